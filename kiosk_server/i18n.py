"""The message catalogue: Simplified Chinese by default, English available.

One catalogue serves both the server-rendered pages and the live JavaScript pages
(which receive it as JSON), so a message is written once per language. We chose
this over gettext/Flask-Babel because most text is drawn by JavaScript from socket
events; a compile step for .mo files would add a build stage for no gain at this size.
Parameters use ``str.format`` names, e.g. ``{field}``.
"""

from __future__ import annotations

from typing import Any

DEFAULT_LANG = "zh"
LANGS = ("zh", "en")

CATALOG: dict[str, dict[str, str]] = {
    "zh": {
        "app.title": "面试评分系统",
        "lang.switch": "English",
        "lang.other": "en",
        # login
        "login.title": "组织者登录",
        "login.password": "密码",
        "login.submit": "登录",
        "login.logout": "退出登录",
        # organiser console
        "console.title": "组织者控制台",
        "console.room": "考场",
        "console.seats": "评委席位",
        "console.seat": "评委{n}",
        "console.enrolled": "已登记",
        "console.not_enrolled": "未登记",
        "console.online": "在线",
        "console.offline": "离线",
        "console.reissue": "重新发放",
        "console.reissue_confirm": "重新发放后，该席位当前平板将被停用。确定吗？",
        "console.call_next": "呼叫下一位",
        "console.call_number": "呼叫指定抽签号",
        "console.open_round": "开始评分",
        "console.absent": "缺考",
        "console.absent_confirm": "确认 {n} 号考生缺考？本轮将不评分结束。",
        "console.close_round": "结束本轮",
        "console.close_reason": "提前结束原因（必填）",
        "console.pause": "暂停考场",
        "console.resume": "恢复考场",
        "console.paused": "已暂停",
        "console.waiting_numbers": "待面试抽签号",
        "console.none_waiting": "无待面试考生",
        "console.submitted": "已提交",
        "console.recused": "已回避",
        "console.pending": "未提交",
        "console.print_qr": "打印登记二维码",
        "ca.title": "信任本机证书",
        "ca.intro": (
            "评分平板须信任本机的证书，才能通过 HTTPS 安全连接并生成签名密钥。"
            "每台平板只需操作一次。"
        ),
        "ca.download": "下载证书",
        "ca.fingerprint": "证书 SHA-256 指纹：",
        "ca.compare": "安装时请核对平板显示的指纹与此处以及组织者电脑上打印的完全一致。",
        "ca.missing": "尚未生成证书。请在组织者电脑上运行 kiosk tls init。",
        "console.export": "导出证据包",
        "console.observers": "监督屏",
        "console.observer_new": "新增监督屏链接",
        "console.finished": "已完成面试",
        "console.connection_lost": "与服务器的连接已断开，正在重连……",
        "qr.title": "评委平板登记二维码",
        "qr.hint": "用平板扫描二维码登记，每个二维码只能使用一次。",
        "qr.observer_hint": "监督屏一次性链接：在监督屏电脑上打开。",
        # round states
        "state.idle": "等待考生",
        "state.called": "考生已入场",
        "state.open": "正在评分",
        "state.closed": "本轮已结束",
        "state.paused": "考场暂停",
        "round.draw_number": "抽签号",
        "round.number_value": "{n}号",
        # tablet
        "tablet.title": "评委评分",
        "tablet.seat": "{room} · 评委{n}",
        "tablet.waiting": "等待考生入场",
        "tablet.waiting_open": "考生已入场，等待开始评分",
        "tablet.scoring": "请评分",
        "tablet.submitted": "已提交，等待其他评委",
        "tablet.recused_wait": "已回避，等待其他评委",
        "tablet.closed": "本轮已结束",
        "tablet.not_seated": "本轮开始时本席位未登记，不参与本轮评分",
        "tablet.paused": "考场暂停，请稍候",
        "tablet.total": "合计",
        "tablet.max": "满分 {max}，步长 {step}",
        "tablet.review": "核对并提交",
        "tablet.confirm_title": "请核对评分",
        "tablet.confirm": "确认提交",
        "tablet.back": "返回修改",
        "tablet.recuse": "申请回避",
        "tablet.recuse_confirm": "确认对本考生回避？回避后不能再评分。",
        "tablet.recuse_reason": "回避原因（选填）",
        "tablet.offline": "网络已断开，正在重连……",
        "tablet.offline_waiting": (
            "网络已断开：{n} 份提交已保存在本平板，恢复连接后自动发送，无需操作"
        ),
        "tablet.sending": "正在发送 {n} 份已保存的提交……",
        "tablet.queued": "评分已封存并保存在本平板，等待发送",
        "tablet.queued_recusal": "回避申请已保存在本平板，等待发送",
        "tablet.your_total": "您的评分合计：{total}",
        "tablet.fill_all": "还有 {n} 项未评分",
        "enrol.title": "平板登记",
        "enrol.intro": "本平板将登记为：{room} 评委{n}",
        "enrol.button": "登记本平板",
        "enrol.done": "登记成功",
        "enrol.unknown": "二维码无效或已被使用。请联系组织者重新发放。",
        "observe.title": "监督屏登记",
        "observe.intro": "本屏幕将登记为监督屏：{label}",
        "observe.button": "打开监督屏",
        # observer board
        "board.title": "面试实时监督",
        "board.current": "当前考生",
        "board.seats": "评委提交情况",
        "board.result": "本轮结果",
        "board.rule_drop": (
            "去掉一个最高分 {high}，去掉一个最低分 {low}，其余 {n} 位评委平均 {mean}"
        ),
        "board.rule_all": "共 {n} 位评委，平均 {mean}",
        "board.no_result": "本轮无有效评分",
        "board.finished": "已完成考生",
        "board.score": "面试成绩",
        "board.counted": "有效评委",
        "board.closed_early": "提前结束：{reason}",
        "board.recused": "回避",
        "board.absent": "未提交",
        "board.scored": "已评分",
        "board.submitted": "已提交",
        # errors
        "error.internal": "服务器内部错误，已记录。请重试或联系组织者。",
        "error.malformed": "请求格式不正确。",
        "error.not_a_number": "“{field}”必须是数字。",
        "error.out_of_range": "“{field}”超出允许范围。",
        "error.wrong_step": "“{field}”不符合评分步长。",
        "error.missing_item": "“{field}”未评分。",
        "error.unknown_item": "评分表中没有“{field}”这一项。",
        "error.unknown_round": "该轮次不存在。",
        "error.round_not_open": "该轮次未在评分中。",
        "error.round_closed": "该轮次已结束，不能再提交。",
        "error.round_other_room": "该轮次不属于您的考场。",
        "error.not_seated": "本席位不参与该轮评分。",
        "error.already_submitted": "本席位已就该轮次提交，不能重复提交。",
        "error.room_paused": "考场已暂停。",
        "error.token_unknown": "登记码无效、已被使用或已被收回。",
        "error.seat_enrolled": "该席位已有平板登记。如需更换，请组织者重新发放。",
        "error.not_authenticated": "未登记或登录已失效。",
        "error.bad_password": "密码不正确。",
        "error.csrf": "页面已过期，请刷新后重试。",
        "error.too_many_attempts": "失败次数过多，请 5 分钟后再试。",
        "error.rate_limited": "请求过于频繁，请稍后再试。",
        "error.unknown_room": "考场不存在。",
        "error.round_active": "本考场还有未结束的轮次。",
        "error.no_candidate_waiting": "没有待面试的考生。",
        "error.unknown_draw_number": "抽签号 {n} 不在本考场待面试名单中。",
        "error.round_not_called": "只有已呼叫的考生才能开始评分。",
        "error.no_seated_raters": "没有已登记的评委，不能开始评分。",
        "error.reason_required": "还有评委未提交，提前结束必须填写原因。",
        "error.unknown_seat": "席位不存在。",
        "error.too_long": "“{field}”太长。",
        "error.bad_signature": "签名无效：该评分不是由本席位登记的平板签发的。",
        "error.no_device_key": "本席位未登记平板密钥，请重新登记。",
        "error.transplanted": "评分的“{field}”与当前轮次不符（可能来自其他轮次、席位或场次）。",
        "error.replayed": "重复或过期的提交（{field}），已拒绝。",
        "error.round_not_revealing": "该轮次尚未结束，不能揭晓评分。",
        "error.nothing_to_open": "本席位在该轮次没有需要揭晓的评分。",
        "error.opening_mismatch": "揭晓的评分与封存时的承诺不符，已拒绝并记录。",
        "error.opening_invalid": "揭晓的评分不符合评分规则（{field}），已拒绝并记录。",
        "error.insecure_context": "本页面必须通过 HTTPS 或 localhost 打开才能生成签名密钥。",
        "state.revealing": "正在揭晓评分",
        "console.revealed": "已揭晓",
        "console.finalise": "发布（缺少揭晓）",
        "console.finalise_reason": "缺少揭晓仍发布的原因（必填）",
        "board.unrevealed": "未揭晓",
        "board.mismatch": "揭晓不符",
        "board.head": "日志 {size} 条 · 根 {root}",
        "board.head_title": "已签名日志树头（拍照留证）",
        "board.revealed": "已揭晓",
        "tablet.revealing": "本轮已结束，正在揭晓评分",
        "tablet.receipt": "回执 {code}",
        "tablet.receipt_bad": "回执校验失败，请立即告知监督员！",
        "tablet.statement_bad": "服务器签名校验失败，请立即告知监督员！",
        "tablet.sealed": "已封存提交，等待其他评委",
        "tablet.other_seat": (
            "本浏览器已登记为另一个席位。一个浏览器只能作为一台评分平板，请重新登记。"
        ),
    },
    "en": {
        "app.title": "Interview scoring kiosk",
        "lang.switch": "中文",
        "lang.other": "zh",
        "login.title": "Organiser sign-in",
        "login.password": "Password",
        "login.submit": "Sign in",
        "login.logout": "Sign out",
        "console.title": "Organiser console",
        "console.room": "Room",
        "console.seats": "Rater seats",
        "console.seat": "Rater {n}",
        "console.enrolled": "enrolled",
        "console.not_enrolled": "not enrolled",
        "console.online": "online",
        "console.offline": "offline",
        "console.reissue": "Re-issue",
        "console.reissue_confirm": "Re-issuing disables this seat's current tablet. Continue?",
        "console.call_next": "Call next",
        "console.call_number": "Call draw number",
        "console.open_round": "Open round",
        "console.absent": "Absent",
        "console.absent_confirm": "Mark draw number {n} absent? The round ends unscored.",
        "console.close_round": "Close round",
        "console.close_reason": "Reason for closing early (required)",
        "console.pause": "Pause room",
        "console.resume": "Resume room",
        "console.paused": "paused",
        "console.waiting_numbers": "Draw numbers waiting",
        "console.none_waiting": "No candidate waiting",
        "console.submitted": "submitted",
        "console.recused": "recused",
        "console.pending": "pending",
        "console.print_qr": "Print enrolment QR codes",
        "ca.title": "Trust this kiosk's certificate",
        "ca.intro": (
            "Rater tablets must trust this kiosk's certificate to connect over HTTPS and "
            "create their signing keys. Once per tablet."
        ),
        "ca.download": "Download the certificate",
        "ca.fingerprint": "Certificate SHA-256 fingerprint:",
        "ca.compare": (
            "When installing, check the tablet shows exactly this fingerprint, the same as "
            "printed on the organiser's computer."
        ),
        "ca.missing": "No certificate yet. Run kiosk tls init on the organiser's computer.",
        "console.export": "Export evidence bundle",
        "console.observers": "Observer screens",
        "console.observer_new": "New observer link",
        "console.finished": "Finished interviews",
        "console.connection_lost": "Connection to the server lost, reconnecting…",
        "qr.title": "Rater tablet enrolment QR codes",
        "qr.hint": "Scan with the tablet to enrol it. Each code works once.",
        "qr.observer_hint": "One-time observer links: open on the observer screen's computer.",
        "state.idle": "Waiting for candidate",
        "state.called": "Candidate in the room",
        "state.open": "Scoring",
        "state.closed": "Round closed",
        "state.paused": "Room paused",
        "round.draw_number": "Draw number",
        "round.number_value": "No. {n}",
        "tablet.title": "Rater scoring",
        "tablet.seat": "{room} · Rater {n}",
        "tablet.waiting": "Waiting for the candidate",
        "tablet.waiting_open": "Candidate in the room; scoring opens soon",
        "tablet.scoring": "Please score",
        "tablet.submitted": "Submitted, waiting for other raters",
        "tablet.recused_wait": "Recused, waiting for other raters",
        "tablet.closed": "Round closed",
        "tablet.not_seated": (
            "This seat was not enrolled when the round opened and does not score it"
        ),
        "tablet.paused": "Room paused, please wait",
        "tablet.total": "Total",
        "tablet.max": "max {max}, step {step}",
        "tablet.review": "Review and submit",
        "tablet.confirm_title": "Check your scores",
        "tablet.confirm": "Confirm and submit",
        "tablet.back": "Back to edit",
        "tablet.recuse": "Declare a conflict",
        "tablet.recuse_confirm": "Recuse yourself for this candidate? You cannot score afterwards.",
        "tablet.recuse_reason": "Reason (optional)",
        "tablet.offline": "Offline, reconnecting…",
        "tablet.offline_waiting": (
            "Offline: {n} submission(s) saved on this tablet; they are sent by themselves"
            " when the connection returns, nothing to do"
        ),
        "tablet.sending": "Sending {n} saved submission(s)…",
        "tablet.queued": "Score sealed and saved on this tablet, waiting to be sent",
        "tablet.queued_recusal": "Recusal saved on this tablet, waiting to be sent",
        "tablet.your_total": "Your total: {total}",
        "tablet.fill_all": "{n} item(s) not scored yet",
        "enrol.title": "Enrol tablet",
        "enrol.intro": "This tablet will be enrolled as: {room}, Rater {n}",
        "enrol.button": "Enrol this tablet",
        "enrol.done": "Enrolled",
        "enrol.unknown": (
            "This QR code is not valid or was already used. Ask the organiser to re-issue it."
        ),
        "observe.title": "Observer screen",
        "observe.intro": "This screen will be enrolled as observer screen: {label}",
        "observe.button": "Open observer screen",
        "board.title": "Live interview monitor",
        "board.current": "Candidate",
        "board.seats": "Raters submitted",
        "board.result": "Result",
        "board.rule_drop": (
            "Highest {high} and lowest {low} dropped; mean of the other {n} raters {mean}"
        ),
        "board.rule_all": "Mean of all {n} raters {mean}",
        "board.no_result": "No valid score in this round",
        "board.finished": "Finished candidates",
        "board.score": "Interview score",
        "board.counted": "Raters counted",
        "board.closed_early": "Closed early: {reason}",
        "board.recused": "recused",
        "board.absent": "not submitted",
        "board.scored": "scored",
        "board.submitted": "submitted",
        "error.internal": "Internal server error; it was recorded. Try again or ask the organiser.",
        "error.malformed": "The request is malformed.",
        "error.not_a_number": "“{field}” must be a number.",
        "error.out_of_range": "“{field}” is out of range.",
        "error.wrong_step": "“{field}” is not a multiple of the scoring step.",
        "error.missing_item": "“{field}” has not been scored.",
        "error.unknown_item": "The rubric has no item “{field}”.",
        "error.unknown_round": "That round does not exist.",
        "error.round_not_open": "That round is not open for scoring.",
        "error.round_closed": "That round is closed; nothing more can be submitted.",
        "error.round_other_room": "That round belongs to another room.",
        "error.not_seated": "This seat does not score that round.",
        "error.already_submitted": "This seat has already submitted for that round.",
        "error.room_paused": "The room is paused.",
        "error.token_unknown": "The enrolment code is unknown, used, or withdrawn.",
        "error.seat_enrolled": (
            "A tablet is already enrolled on this seat. Ask the organiser to re-issue it."
        ),
        "error.not_authenticated": "Not enrolled or signed in, or the session expired.",
        "error.bad_password": "Wrong password.",
        "error.csrf": "This page has expired; reload it and try again.",
        "error.too_many_attempts": "Too many failed attempts; try again in 5 minutes.",
        "error.rate_limited": "Too many requests; slow down.",
        "error.unknown_room": "No such room.",
        "error.round_active": "This room still has a round that is not closed.",
        "error.no_candidate_waiting": "No candidate is waiting.",
        "error.unknown_draw_number": "Draw number {n} is not waiting in this room.",
        "error.round_not_called": "Only a called candidate's round can be opened.",
        "error.no_seated_raters": "No rater seat is enrolled; the round cannot open.",
        "error.reason_required": "Some raters have not submitted: give a reason to close early.",
        "error.unknown_seat": "No such seat.",
        "error.too_long": "“{field}” is too long.",
        "error.bad_signature": (
            "Bad signature: this sheet was not signed by the seat's enrolled tablet."
        ),
        "error.no_device_key": "No tablet key is registered for this seat; enrol again.",
        "error.transplanted": (
            "The sheet's “{field}” does not match this round (another round, seat or event?)."
        ),
        "error.replayed": "A repeated or stale submission ({field}); refused.",
        "error.round_not_revealing": "That round has not closed; sheets cannot be opened yet.",
        "error.nothing_to_open": "This seat has no sealed sheet to open in that round.",
        "error.opening_mismatch": (
            "The opened sheet does not match its commitment; refused and logged."
        ),
        "error.opening_invalid": (
            "The opened sheet breaks the rubric ({field}); refused and logged."
        ),
        "error.insecure_context": (
            "Open this page over HTTPS or on localhost to create a signing key."
        ),
        "state.revealing": "Opening the sealed sheets",
        "console.revealed": "opened",
        "console.finalise": "Publish without missing openings",
        "console.finalise_reason": "Reason to publish with openings missing (required)",
        "board.unrevealed": "not opened",
        "board.mismatch": "opening refused",
        "board.head": "Log {size} entries · root {root}",
        "board.head_title": "Signed log head (photograph it)",
        "board.revealed": "opened",
        "tablet.revealing": "Round closed; opening the sealed sheets",
        "tablet.receipt": "Receipt {code}",
        "tablet.receipt_bad": "The receipt does not verify: tell the monitors now!",
        "tablet.statement_bad": "The server's signature does not verify: tell the monitors now!",
        "tablet.sealed": "Sealed and submitted, waiting for other raters",
        "tablet.other_seat": (
            "This browser was enrolled for another seat since. "
            "One browser is one tablet: enrol again."
        ),
    },
}

# The lot draw (抽签), check-in (检录) and the end of the interviews.
CATALOG["zh"].update(
    {
        "lot.title": "公开抽签",
        "approval.title": "待监督员确认的操作",
        "approval.waiting": "等待监督员确认",
        "approval.asked": "已提交，等待监督员在监督屏上确认。",
        "approval.confirm": "确认执行",
        "approval.decline": "不同意",
        "approval.withdraw": "撤回",
        "approval.confirm_prompt": "确认同意组织者执行此操作？此操作不可撤销。",
        "approval.reason": "原因：{reason}",
        "approval.action.close_early": "提前结束第 {round} 轮评分",
        "approval.action.finalise": "第 {round} 轮缺少揭晓仍发布",
        "approval.action.reissue_seat": "重新发放 {room} 评委{seat} 的登记码（停用其平板）",
        "approval.action.lot_void": "作废正在进行的抽签",
        "approval.action.lot_redraw": "重新抽签：{purpose}",
        "approval.action.end_interviews": "结束面试并公布抽签号对应名单",
        "error.approval_pending": "同样的操作已在等待监督员确认。",
        "error.unknown_approval": "该确认请求不存在。",
        "error.approval_not_pending": "该请求已被处理或正在执行。",
        "lot.purpose": "抽签内容",
        "lot.purpose.order": "考生面试顺序抽签",
        "lot.purpose.raters": "评委分配考场抽签",
        "lot.pool_raters": "抽签池：{n} 名评委，按名册顺序",
        "lot.placement": "评委分配结果",
        "lot.reserves": "无法回避冲突、列为备用：{names}",
        "error.lot_rooms_unset": "有评委申报了回避考生，请先完成考生抽签（分配考场）。",
        "lot.state.committing": "各方提交承诺中",
        "lot.state.revealing": "各方揭示中",
        "lot.state.drawn": "抽签完成",
        "lot.state.void": "本次抽签已作废",
        "lot.attempt": "第 {attempt} 次抽签（同一名单共 {attempts} 次）",
        "lot.reason": "重新抽签原因：{reason}",
        "lot.pool": "抽签池：{n} 名考生，按报名号排序",
        "lot.pool_digest": "名单摘要 SHA-256",
        "lot.pool_note": "名单在面试结束后公布，任何人可核对摘要并复算抽签结果。",
        "lot.parties": "参与方（按公布的顺序使用）",
        "lot.commitment": "承诺",
        "lot.value": "揭示值",
        "lot.waiting_commit": "等待提交承诺",
        "lot.waiting_reveal": "等待揭示",
        "lot.refused": "揭示不符被拒绝 {n} 次",
        "lot.key": "密钥串",
        "lot.steps": "逐步计算",
        "lot.step": "第 {i} 步",
        "lot.order": "抽签结果：抽签号 ← 名单序号",
        "lot.recompute": "扫码或输入以下命令即可复算：",
        "lot.start": "开始抽签",
        "lot.parties_input": "参与方（每行一个，按使用顺序）",
        "lot.redraw_reason": "重新抽签原因（重新抽签时必填）",
        "lot.void": "作废本次抽签",
        "lot.void_reason": "作废原因（必填）",
        "lot.sheet": "打印参与方二维码",
        "lot.sheet_hint": "每位参与方用自己的手机扫码，在众人面前输入数字（或掷骰结果）。",
        "lot.party_title": "抽签参与方：{label}",
        "lot.party_intro": (
            "您是第 {position} 个参与方。请输入一个数字（或众人面前掷骰的点数，空格分隔）。"
            "提交后只公布承诺值，数字在所有参与方都提交后才揭示。"
        ),
        "lot.number": "您的数字",
        "lot.commit": "提交承诺",
        "lot.committed": "已提交承诺。请保持本页面打开，所有参与方提交后点击“揭示”。",
        "lot.keep": "请记下：数字 {value}，盐值 {salt}",
        "lot.reveal": "揭示",
        "lot.salt": "盐值",
        "lot.revealed": "已揭示，谢谢。",
        "lot.done": "抽签已完成。",
        "lot.not_current": "本链接所属的抽签已结束或作废。",
        "lot.insecure": "本页面须通过 HTTPS 或 localhost 打开。",
        "checkin.title": "检录",
        "audit.title": "审计：证据包下载与核验",
        "audit.role": "审计",
        "audit.enrol_title": "审计设备登记",
        "audit.intro": "本设备将登记为审计设备：{label}",
        "audit.new": "新增审计链接",
        "audit.head": "最新已签名日志树头：{size} 条，{time}",
        "audit.no_head": "尚无已签名的日志树头。",
        "audit.download": "下载证据包",
        "audit.how": "在任何装有本软件的电脑上（无需数据库、无需联网）核验：",
        "audit.note": "下载会记入日志。可用 --head 指定监督员拍照留存的树头，核对日志未被改写。",
        "checkin.enrol_title": "检录设备登记",
        "checkin.intro": "本设备将登记为检录设备：{label}",
        "checkin.new": "新增检录设备链接",
        "checkin.devices": "检录设备",
        "checkin.waiting": "候考室（已到达）",
        "checkin.not_arrived": "未到达",
        "checkin.arrive": "到达",
        "checkin.inside": "正在面试",
        "checkin.call_next": "请下一位考生入场",
        "checkin.finished": "候分",
        "checkin.confirm": "考生确认",
        "checkin.confirmed": "已确认",
        "checkin.unplaced": "未分配抽签号",
        "checkin.none": "无",
        "checkin.score_line": "{n}号 {name}：面试成绩 {mean}",
        "interviews.end": "结束面试并公布抽签号对应名单",
        "interviews.end_confirm": "确认所有面试已结束？结束后将公布抽签号与姓名的对应关系。",
        "interviews.ended": "面试已结束，抽签号对应名单已公布。",
        "board.name": "姓名",
        "error.lot_parties": "参与方须为 1 至 {n} 个互不相同的名称，每个不超过 40 字。",
        "error.lot_after_interviews": "已有考生开始面试，不能再抽签。",
        "error.lot_in_progress": "已有一次抽签正在进行。",
        "error.lot_empty_pool": "没有考生，不能抽签。",
        "error.lot_redraw_reason": "该名单已抽过签，重新抽签必须填写原因。",
        "error.lot_not_committing": "现在不能提交承诺（已提交过，或抽签已进入揭示阶段）。",
        "error.lot_not_revealing": "现在不能揭示（尚有参与方未提交承诺，或已揭示过）。",
        "error.lot_reveal_mismatch": "揭示的数字与盐值和承诺不符，已拒绝并记录。",
        "error.lot_none_active": "没有正在进行的抽签。",
        "error.already_arrived": "{n}号考生已登记到达。",
        "error.round_not_closed": "该轮次尚未结束。",
        "error.already_confirmed": "考生已确认过成绩。",
        "error.interviews_already_ended": "面试已经结束。",
        "error.interviews_not_finished": "还有 {n} 名考生的面试未结束。",
    }
)
# Democratic evaluation (民主测评): the evaluator's ballot, the slips, the set-up page and
# the turnout and results panel of the console and the observer screen.
CATALOG["zh"].update(
    {
        "ballot.title": "民主测评票",
        "ballot.intro": (
            "请对每位竞岗者逐项评价。选票不记名：您的评价与您本人、这张选票和投票时间都无法对应。"
        ),
        "ballot.group": "评价人类别：{group}",
        "ballot.progress": "已评完 {done} / {total} 位",
        "ballot.next_gap": "下一位未评完",
        "ballot.review": "核对并提交",
        "ballot.review_title": "请核对您的评价",
        "ballot.complete": "已完整评价 {n} / {total} 位竞岗者。",
        "ballot.gaps": (
            "有 {n} 位竞岗者未评完全部项目：对他们，这张选票将作为废票（不计分，单独统计）。"
        ),
        "ballot.gaps_whole": (
            "有 {n} 位竞岗者未评完全部项目：按本次测评规则，整张选票将作为废票。"
        ),
        "ballot.not_graded": "未评完（废票）",
        "ballot.confirm_note": "提交后不能修改，也无法查询。",
        "ballot.edit": "返回修改",
        "ballot.confirm": "确认提交",
        "ballot.done_title": "投票成功",
        "ballot.done": "您的选票已记录，感谢参与。选票不能修改，也无法查询。",
        "eval.dim_de": "德",
        "eval.dim_neng": "能",
        "eval.dim_qin": "勤",
        "eval.dim_ji": "绩",
        "eval.dim_lian": "廉",
        "eval.grade_excellent": "优秀",
        "eval.grade_competent": "称职",
        "eval.grade_basic": "基本称职",
        "eval.grade_incompetent": "不称职",
        "eval.title": "民主测评",
        "eval.state_none": "未设置",
        "eval.state_setup": "未开始",
        "eval.state_open": "投票中",
        "eval.state_closed": "已结束",
        "eval.group": "评价人类别",
        "eval.ballots": "票数",
        "eval.cast": "已投",
        "eval.weight": "权重",
        "eval.turnout": "已投 {cast} / {ballots} 票",
        "eval.setup": "测评设置",
        "eval.print": "打印选票二维码",
        "eval.open": "开始测评",
        "eval.close": "结束测评并公布结果",
        "eval.close_confirm": "结束后不能再投票，结果将立即公布。确定结束吗？",
        "eval.result": "测评结果",
        "eval.candidate": "竞岗者",
        "eval.unit": "单位",
        "eval.valid": "有效票",
        "eval.invalid": "废票",
        "eval.score": "测评得分（满分 {full}）",
        "eval.weighted": "折算分（占 {weight}）",
        "eval.hidden": "结果在测评结束后公布。",
        "eval.setup_title": "民主测评设置",
        "eval.setup_intro": (
            "设置评价人类别、每类发放的票数和权重，以及计分办法。测评开始后不能修改。"
        ),
        "eval.group_name": "类别名称",
        "eval.weight_hint": (
            "权重留空：每张有效票同等计算；填写：先算各类别平均分再按权重加权（须每类都填）。"
            "人数很少的类别，其平均分可能暴露个人评价。"
        ),
        "eval.dimensions": "评价项目（空格分隔）",
        "eval.points": "每项分值",
        "eval.grades": "等次=得分比例%（空格分隔，从高到低）",
        "eval.validity": "废票规则",
        "eval.validity_candidate": "某位竞岗者未评完：仅对该竞岗者作废",
        "eval.validity_ballot": "任一竞岗者未评完：整张选票作废",
        "eval.stage_weight": "民主测评占总成绩 {weight} 分（在场次设置中修改）。",
        "eval.save": "保存设置",
        "eval.saved": "已保存。",
        "eval.back": "返回控制台",
        "slips.title": "民主测评选票二维码",
        "slips.hint": (
            "裁开后放入票箱打乱，每位评价人随机抽取一张，用手机扫码投票。每张只能投一次。"
            "请勿记录哪张选票发给了谁。"
        ),
        "slips.slip": "民主测评票",
        "slips.scan": "手机扫码投票 · 每张限投一次",
        "slips.none": "没有未使用的选票。",
        "error.evaluation_not_open": "民主测评尚未开始。请等工作人员宣布开始后再扫码。",
        "error.evaluation_closed": "民主测评已结束，不再接受投票。",
        "error.evaluation_started": "民主测评已开始，设置不能再修改。",
        "error.evaluation_not_ready": "请先设置至少一个有票数的评价人类别，并导入竞岗者。",
        "error.ballot_unknown": "选票二维码无效。请核对，或向工作人员询问。",
        "error.ballot_used": "这张选票已经投过，不能再次使用。",
        "error.groups_count": "评价人类别须为 1–10 个。",
        "error.group_invalid": "第 {n} 个类别：名称须为 1–30 个字，且不能重复。",
        "error.ballots_invalid": "“{name}”的票数须为 0–2000 的整数。",
        "error.weight_invalid": (
            "“{name}”的权重须为大于 0、不超过 1000 的数；要么每个类别都填权重，要么都不填。"
        ),
        "error.scheme_invalid": "计分办法中的“{field}”不正确。",
    }
)
CATALOG["en"].update(
    {
        "lot.title": "Public lot draw",
        "approval.title": "Waiting for a monitor's confirmation",
        "approval.waiting": "Waiting for a monitor",
        "approval.asked": "Asked; waiting for a monitor to confirm on the observer screen.",
        "approval.confirm": "Confirm",
        "approval.decline": "Decline",
        "approval.withdraw": "Withdraw",
        "approval.confirm_prompt": "Agree to the organiser's act? It cannot be undone.",
        "approval.reason": "reason: {reason}",
        "approval.action.close_early": "Close round {round} early",
        "approval.action.finalise": "Publish round {round} with openings missing",
        "approval.action.reissue_seat": "Re-issue {room} rater {seat} (its tablet stops working)",
        "approval.action.lot_void": "Void the draw in progress",
        "approval.action.lot_redraw": "Draw again: {purpose}",
        "approval.action.end_interviews": "End the interviews and publish the draw-number list",
        "error.approval_pending": "The same act is already waiting for a monitor.",
        "error.unknown_approval": "No such request.",
        "error.approval_not_pending": "That request was already decided or is running.",
        "lot.purpose": "What is drawn",
        "lot.purpose.order": "Candidates' interview order",
        "lot.purpose.raters": "Raters into rooms",
        "lot.pool_raters": "Pool: {n} raters in roster order",
        "lot.placement": "Where the raters sit",
        "lot.reserves": "Reserves (no room free of a conflict): {names}",
        "error.lot_rooms_unset": (
            "A rater declared a conflict with a candidate: draw the candidates' order "
            "(their rooms) first."
        ),
        "lot.state.committing": "Parties committing",
        "lot.state.revealing": "Parties revealing",
        "lot.state.drawn": "Draw complete",
        "lot.state.void": "This draw was voided",
        "lot.attempt": "Draw {attempt} ({attempts} draws over this pool in all)",
        "lot.reason": "Reason for the re-draw: {reason}",
        "lot.pool": "Pool: {n} candidates in registration-number order",
        "lot.pool_digest": "Pool SHA-256",
        "lot.pool_note": (
            "The list is published when the interviews end; anyone can then check the digest "
            "and recompute the draw."
        ),
        "lot.parties": "Parties (sources used in this order)",
        "lot.commitment": "Commitment",
        "lot.value": "Revealed",
        "lot.waiting_commit": "waiting for commitment",
        "lot.waiting_reveal": "waiting for reveal",
        "lot.refused": "{n} reveal(s) refused as mismatched",
        "lot.key": "Key string",
        "lot.steps": "Step by step",
        "lot.step": "Step {i}",
        "lot.order": "Result: draw number ← pool position",
        "lot.recompute": "Scan, or run this command to recompute:",
        "lot.start": "Start a draw",
        "lot.parties_input": "Parties (one per line, in order of use)",
        "lot.redraw_reason": "Reason for a re-draw (required to draw again)",
        "lot.void": "Void this draw",
        "lot.void_reason": "Reason to void (required)",
        "lot.sheet": "Print party QR codes",
        "lot.sheet_hint": (
            "Each party scans with their own phone and enters a number (or dice rolls) "
            "in front of everyone."
        ),
        "lot.party_title": "Lot-draw party: {label}",
        "lot.party_intro": (
            "You are party {position}. Enter a number (or dice rolls made in front of everyone, "
            "separated by spaces). Only its commitment is shown until every party has committed."
        ),
        "lot.number": "Your number",
        "lot.commit": "Commit",
        "lot.committed": "Committed. Keep this page open; reveal once every party has committed.",
        "lot.keep": "Write down: number {value}, salt {salt}",
        "lot.reveal": "Reveal",
        "lot.salt": "Salt",
        "lot.revealed": "Revealed. Thank you.",
        "lot.done": "The draw is complete.",
        "lot.not_current": "This link's draw has ended or was voided.",
        "lot.insecure": "Open this page over HTTPS or on localhost.",
        "checkin.title": "Check-in",
        "audit.title": "Audit: download and check the evidence",
        "audit.role": "Auditor",
        "audit.enrol_title": "Auditor device enrolment",
        "audit.intro": "This device will be enrolled for auditing: {label}",
        "audit.new": "New auditor link",
        "audit.head": "Latest signed log head: {size} entries, {time}",
        "audit.no_head": "No signed log head yet.",
        "audit.download": "Download the evidence bundle",
        "audit.how": "Check it on any computer with this software (no database, no network):",
        "audit.note": (
            "The download is logged. Use --head with a head the monitors photographed to check "
            "the log was not rewritten."
        ),
        "checkin.enrol_title": "Check-in device enrolment",
        "checkin.intro": "This device will be enrolled for check-in: {label}",
        "checkin.new": "New check-in device link",
        "checkin.devices": "Check-in devices",
        "checkin.waiting": "Waiting room (arrived)",
        "checkin.not_arrived": "Not arrived",
        "checkin.arrive": "Arrived",
        "checkin.inside": "In the interview",
        "checkin.call_next": "Call the next candidate in",
        "checkin.finished": "Score announcement",
        "checkin.confirm": "Candidate confirms",
        "checkin.confirmed": "confirmed",
        "checkin.unplaced": "Without a draw number",
        "checkin.none": "none",
        "checkin.score_line": "No. {n} {name}: interview score {mean}",
        "interviews.end": "End the interviews and publish the draw-number list",
        "interviews.end_confirm": (
            "Have all interviews ended? The draw-number-to-name list will be published."
        ),
        "interviews.ended": "The interviews have ended; the draw-number list is published.",
        "board.name": "Name",
        "error.lot_parties": "Give 1 to {n} distinct parties, each at most 40 characters.",
        "error.lot_after_interviews": "Interviews have begun; no more draws.",
        "error.lot_in_progress": "A draw is already in progress.",
        "error.lot_empty_pool": "There are no candidates to draw.",
        "error.lot_redraw_reason": "This pool has been drawn before: a re-draw needs a reason.",
        "error.lot_not_committing": (
            "Cannot commit now (already committed, or the draw is taking reveals)."
        ),
        "error.lot_not_revealing": (
            "Cannot reveal now (a party has yet to commit, or you have revealed)."
        ),
        "error.lot_reveal_mismatch": (
            "The number and salt do not match the commitment; refused and recorded."
        ),
        "error.lot_none_active": "No draw is in progress.",
        "error.already_arrived": "Candidate no. {n} is already marked arrived.",
        "error.round_not_closed": "That round has not closed.",
        "error.already_confirmed": "The candidate has already confirmed.",
        "error.interviews_already_ended": "The interviews have already ended.",
        "error.interviews_not_finished": "{n} candidate(s) have not finished their interview.",
        "ballot.title": "Democratic evaluation ballot",
        "ballot.intro": (
            "Grade every candidate on each dimension. The ballot is anonymous: nothing links "
            "your grades to you, to this slip, or to when you voted."
        ),
        "ballot.group": "Evaluator group: {group}",
        "ballot.progress": "{done} of {total} graded",
        "ballot.next_gap": "Next ungraded",
        "ballot.review": "Review and submit",
        "ballot.review_title": "Check your ballot",
        "ballot.complete": "{n} of {total} candidates fully graded.",
        "ballot.gaps": (
            "{n} candidate(s) are not graded on every dimension: for them this ballot is "
            "invalid (not counted, tallied apart)."
        ),
        "ballot.gaps_whole": (
            "{n} candidate(s) are not graded on every dimension: under this evaluation's "
            "rule the whole ballot is invalid."
        ),
        "ballot.not_graded": "not fully graded (invalid)",
        "ballot.confirm_note": "Once submitted it cannot be changed or looked up.",
        "ballot.edit": "Back to edit",
        "ballot.confirm": "Confirm and submit",
        "ballot.done_title": "Ballot cast",
        "ballot.done": "Your ballot is recorded. Thank you. It cannot be changed or looked up.",
        "eval.dim_de": "Integrity",
        "eval.dim_neng": "Ability",
        "eval.dim_qin": "Diligence",
        "eval.dim_ji": "Achievement",
        "eval.dim_lian": "Probity",
        "eval.grade_excellent": "Excellent",
        "eval.grade_competent": "Competent",
        "eval.grade_basic": "Basically competent",
        "eval.grade_incompetent": "Incompetent",
        "eval.title": "Democratic evaluation",
        "eval.state_none": "not set up",
        "eval.state_setup": "not open",
        "eval.state_open": "voting",
        "eval.state_closed": "closed",
        "eval.group": "Evaluator group",
        "eval.ballots": "Ballots",
        "eval.cast": "Cast",
        "eval.weight": "Weight",
        "eval.turnout": "{cast} of {ballots} ballots cast",
        "eval.setup": "Set up",
        "eval.print": "Print ballot QR slips",
        "eval.open": "Open the evaluation",
        "eval.close": "Close and publish the result",
        "eval.close_confirm": (
            "After closing nobody can vote and the result is published at once. Close now?"
        ),
        "eval.result": "Result",
        "eval.candidate": "Candidate",
        "eval.unit": "Unit",
        "eval.valid": "Valid",
        "eval.invalid": "Invalid",
        "eval.score": "Score (of {full})",
        "eval.weighted": "Weighted (of {weight})",
        "eval.hidden": "The result is shown once the evaluation closes.",
        "eval.setup_title": "Democratic evaluation set-up",
        "eval.setup_intro": (
            "Set the evaluator groups, how many ballots each gets and their weights, and "
            "the counting rule. Nothing can change once the evaluation opens."
        ),
        "eval.group_name": "Group",
        "eval.weight_hint": (
            "No weights: every valid ballot counts the same. Weights: each group's mean, "
            "weighted (give every group one). A very small group's mean can reveal a "
            "person's grades."
        ),
        "eval.dimensions": "Dimensions (separated by spaces)",
        "eval.points": "Points per dimension",
        "eval.grades": "Grade=percentage of the points (spaces between, best first)",
        "eval.validity": "Invalid ballots",
        "eval.validity_candidate": "A candidate not fully graded: invalid for that candidate",
        "eval.validity_ballot": "Any candidate not fully graded: the whole ballot is invalid",
        "eval.stage_weight": (
            "The evaluation counts {weight} points of the composite (an event setting)."
        ),
        "eval.save": "Save",
        "eval.saved": "Saved.",
        "eval.back": "Back to the console",
        "slips.title": "Democratic evaluation ballot slips",
        "slips.hint": (
            "Cut the slips apart, shuffle them in a box and let each evaluator draw one at "
            "random and scan it with a phone. Each works once. Never note who got which slip."
        ),
        "slips.slip": "Evaluation ballot",
        "slips.scan": "Scan with a phone to vote · works once",
        "slips.none": "No unused slips.",
        "error.evaluation_not_open": (
            "The democratic evaluation has not opened yet. Scan again once it is announced."
        ),
        "error.evaluation_closed": "The democratic evaluation is closed; no more ballots.",
        "error.evaluation_started": "The evaluation has opened; its set-up can no longer change.",
        "error.evaluation_not_ready": (
            "Set at least one evaluator group with ballots, and import the candidates, first."
        ),
        "error.ballot_unknown": "This ballot QR code is not valid. Check it, or ask the staff.",
        "error.ballot_used": "This ballot has already been cast; it cannot be used again.",
        "error.groups_count": "Give 1 to 10 evaluator groups.",
        "error.group_invalid": "Group {n}: a name of 1–30 characters, not repeated.",
        "error.ballots_invalid": "Ballots for “{name}” must be a whole number from 0 to 2000.",
        "error.weight_invalid": (
            "The weight of “{name}” must be above 0 and at most 1000; give every group a "
            "weight, or none."
        ),
        "error.scheme_invalid": "The counting rule's “{field}” is not valid.",
    }
)

# Item codes and field names shown inside error messages get their label when known.
FIELD_LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "reason": "原因",
        "round_id": "轮次",
        "items": "评分表",
        "idempotency_key": "提交编号",
        "event": "场次",
        "room": "考场",
        "seat": "席位",
        "round": "轮次",
        "draw_number": "抽签号",
        "rubric": "评分表版本",
        "seq": "序号",
        "nonce": "随机数",
        "total": "合计",
        "envelope": "签名信封",
        "public_key": "公钥",
    },
    "en": {
        "reason": "reason",
        "round_id": "round",
        "items": "score sheet",
        "idempotency_key": "submission key",
        "draw_number": "draw number",
        "rubric": "rubric version",
        "seq": "sequence number",
        "public_key": "public key",
    },
}


def normalise_lang(value: str | None) -> str:
    """Map anything a client sends (``en-GB``, ``zh-CN``, junk) to a catalogue language."""
    if value and value.lower().startswith("en"):
        return "en"
    return DEFAULT_LANG


def translate(key: str, lang: str = DEFAULT_LANG, **params: Any) -> str:
    """The message for ``key`` in ``lang``, falling back to Chinese, then to the key."""
    catalog = CATALOG.get(lang, CATALOG[DEFAULT_LANG])
    text = catalog.get(key) or CATALOG[DEFAULT_LANG].get(key) or key
    if "field" in params:
        field = str(params["field"])
        params["field"] = FIELD_LABELS.get(lang, {}).get(field, field)
    try:
        return text.format(**params)
    except (KeyError, IndexError, ValueError):
        return text
