"""The console's words in Vietnamese (the default) and English; a page asks ``t(key)`` in its language.

A key missing from a language is a bug a unit test catches (both tables hold the same keys)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Literal

Language = Literal["vi", "en"]
LANGUAGES: Final[tuple[Language, ...]] = ("vi", "en")

WORDS: Final[dict[str, tuple[str, str]]] = {
    "title": ("Bảng điều khiển trục liên thông", "Interoperability hub console"),
    "login": ("Đăng nhập", "Sign in"),
    "logout": ("Đăng xuất", "Sign out"),
    "user": ("Tên đăng nhập", "User name"),
    "password": ("Mật khẩu", "Password"),
    "login_failed": ("Sai tên đăng nhập hoặc mật khẩu.", "Wrong user name or password."),
    "signed_in_as": ("Đang đăng nhập", "Signed in as"),
    "dashboard": ("Tổng quan", "Dashboard"),
    "messages": ("Thông điệp", "Messages"),
    "dead_letters": ("Thư chết", "Dead letters"),
    "unroutable": ("Không định tuyến được", "Unroutable"),
    "audit_log": ("Nhật ký kiểm toán", "Audit log"),
    "received_hour": ("Nhận trong 1 giờ qua", "Received in the last hour"),
    "delivered_hour": ("Đã chuyển trong 1 giờ qua", "Delivered in the last hour"),
    "failed_hour": ("Lần gửi lỗi trong 1 giờ qua", "Failed attempts in the last hour"),
    "queue_depth": ("Đang chờ gửi", "Queue depth"),
    "total_messages": ("Tổng số thông điệp", "Messages in total"),
    "adapters": ("Hệ thống kết nối", "Adapters"),
    "adapter": ("Hệ thống", "Adapter"),
    "circuit": ("Mạch", "Circuit"),
    "health": ("Tình trạng", "Health"),
    "healthy": ("Bình thường", "Healthy"),
    "degraded": ("Gián đoạn", "Degraded"),
    "last_error": ("Lỗi gần nhất", "Last error"),
    "state": ("Trạng thái", "State"),
    "any": ("Tất cả", "Any"),
    "kind": ("Loại", "Kind"),
    "dossier_code": ("Mã hồ sơ", "Dossier code"),
    "document_id": ("Mã văn bản", "Document id"),
    "agency": ("Cơ quan", "Agency"),
    "procedure": ("Thủ tục", "Procedure"),
    "since": ("Từ ngày", "From"),
    "until": ("Đến ngày", "To"),
    "search": ("Tìm kiếm", "Search"),
    "no_results": ("Không có kết quả.", "Nothing found."),
    "received": ("Thời điểm nhận", "Received"),
    "sender": ("Bên gửi", "Sender"),
    "recipient": ("Bên nhận", "Recipient"),
    "route": ("Định tuyến", "Route"),
    "deliveries": ("Chuyển phát", "Deliveries"),
    "message": ("Thông điệp", "Message"),
    "signature": ("Chữ ký số", "Signature"),
    "attempts": ("Các lần gửi", "Attempts"),
    "attempt": ("Lần", "Attempt"),
    "outcome": ("Kết quả", "Outcome"),
    "worker": ("Tiến trình", "Worker"),
    "error": ("Lỗi", "Error"),
    "payload": ("Nội dung", "Payload"),
    "payload_cut": ("Nội dung quá lớn, chỉ hiện phần đầu", "Payload too large; only its beginning is shown"),
    "bytes": ("byte", "bytes"),
    "trail": ("Toàn bộ hành trình hồ sơ", "The dossier's whole trail"),
    "target": ("Đích", "Target"),
    "replay": ("Gửi lại", "Replay"),
    "replayed": ("Đã xếp hàng gửi lại", "Re-queued for delivery"),
    "reroute": ("Định tuyến lại", "Re-route"),
    "rerouted": ("Đã định tuyến lại", "Re-routed"),
    "not_rerouted": (
        "Vẫn không có quy tắc nào khớp: hãy sửa routes.yaml.",
        "Still no rule matches: fix routes.yaml.",
    ),
    "nothing_replayed": ("Không có thư chết nào để gửi lại.", "No dead letter to replay."),
    "forbidden_role": (
        "Kiểm toán viên chỉ được xem, không được thay đổi.",
        "Auditors may look but not change anything.",
    ),
    "forbidden_csrf": (
        "Yêu cầu không hợp lệ (thiếu mã chống giả mạo). Hãy tải lại trang.",
        "Request refused (anti-forgery token missing or wrong). Reload the page.",
    ),
    "forbidden": ("Bị từ chối", "Forbidden"),
    "not_found": ("Không tìm thấy", "Not found"),
    "bad_request": ("Yêu cầu không hợp lệ", "Bad request"),
    "verification": ("Kiểm chứng nhật ký", "Log verification"),
    "tree_size": ("Số mục đã niêm phong", "Sealed entries"),
    "root_hash": ("Gốc cây Merkle", "Merkle root"),
    "head_at": ("Thời điểm ký", "Signed at"),
    "no_head": ("Chưa có đầu cây nào được ký.", "No tree head signed yet."),
    "verify_now": ("Kiểm chứng ngay", "Verify now"),
    "verified_ok": ("Nhật ký toàn vẹn", "The log is intact"),
    "verified_bad": ("Nhật ký đã bị thay đổi", "The log was altered"),
    "role": ("Vai trò", "Role"),
    "back": ("Quay lại", "Back"),
    "none": ("không có", "none"),
    "process_activity": ("Tiến trình này", "This process"),
    "accepted": ("đã nhận", "accepted"),
    "refused": ("từ chối", "refused"),
    "delivered": ("đã chuyển", "delivered"),
    "failed": ("lỗi", "failed"),
}


def translator(language: Language) -> Callable[[str], str]:
    index = LANGUAGES.index(language)

    def t(key: str) -> str:
        return WORDS[key][index]

    return t
