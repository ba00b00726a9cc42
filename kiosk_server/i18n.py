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
