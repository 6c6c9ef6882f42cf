"""The monthly report as files people open: CSV (one table, a ``scope`` column) and XLSX (openpyxl:
one sheet per view, Vietnamese and English headings), and as the console table ``hub report`` prints."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any, Final

from lienthong.reports.monthly import Counts, MonthlyReport, Row

#: The numbers' columns: key, Vietnamese heading, English heading.
COLUMNS: Final = (
    ("received", "Tiếp nhận", "Received"),
    ("processed", "Đã giải quyết", "Processed"),
    ("on_time", "Đúng hạn", "On time"),
    ("late", "Quá hạn", "Late"),
    ("returned", "Trả lại, dừng, rút", "Returned"),
    ("pending", "Đang giải quyết", "Pending"),
    ("exchange_failures", "Lỗi trao đổi", "Exchange failures"),
)
_KEYS: Final = ("agency_code", "agency_name", "procedure_code", "procedure_name")
CSV_MEDIA: Final = "text/csv; charset=utf-8"
XLSX_MEDIA: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _numbers(counts: Counts) -> list[int]:
    values = counts.as_dict()
    return [values[key] for key, _, _ in COLUMNS]


def to_csv(report: MonthlyReport) -> bytes:
    """UTF-8 with a byte order mark, so spreadsheet programs read the Vietnamese names right."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["month", "scope", *_KEYS, *(key for key, _, _ in COLUMNS)])

    def write(scope: str, row: Row) -> None:
        names = [row.agency_code, row.agency_name, row.procedure_code, row.procedure_name]
        writer.writerow([report.month, scope, *names, *_numbers(row.counts)])

    for row in report.rows:
        write("agency-procedure", row)
    for row in report.by_agency():
        write("agency", row)
    for row in report.by_procedure():
        write("procedure", row)
    writer.writerow([report.month, "total", "", "", "", "", *_numbers(report.total())])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(report: MonthlyReport) -> bytes:
    from openpyxl import Workbook  # loaded only when a spreadsheet is asked for
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    bold = Font(bold=True)
    sheets: list[tuple[str, tuple[tuple[str, str], ...], list[Row]]] = [
        (
            "Theo đơn vị",
            (("agency_code", "Mã đơn vị / Agency"), ("agency_name", "Đơn vị / Agency name")),
            report.by_agency(),
        ),
        (
            "Theo thủ tục",
            (("procedure_code", "Mã TTHC / Procedure"), ("procedure_name", "Thủ tục / Procedure name")),
            report.by_procedure(),
        ),
        (
            "Chi tiết",
            (
                ("agency_code", "Mã đơn vị / Agency"),
                ("agency_name", "Đơn vị / Agency name"),
                ("procedure_code", "Mã TTHC / Procedure"),
                ("procedure_name", "Thủ tục / Procedure name"),
            ),
            report.rows,
        ),
    ]
    first = True
    for title, keys, rows in sheets:
        sheet: Any = book.active if first else book.create_sheet()
        first = False
        sheet.title = title
        sheet.append([f"Báo cáo tháng {report.month} / Monthly report {report.month}"])
        sheet.append([_period(report)])
        sheet.append([])
        header = [heading for _, heading in keys] + [f"{vi} / {en}" for _, vi, en in COLUMNS]
        sheet.append(header)
        for row in rows:
            values = row.as_dict()
            sheet.append([values[key] for key, _ in keys] + _numbers(row.counts))
        sheet.append(["Tổng cộng / Total", *([""] * (len(keys) - 1)), *_numbers(report.total())])
        for cell in (*sheet[1], *sheet[4], *sheet[sheet.max_row]):
            cell.font = bold
        sheet.freeze_panes = "A5"
        for index, heading in enumerate(header, start=1):
            width = max(
                len(heading),
                *(len(str(sheet.cell(r, index).value or "")) for r in range(5, sheet.max_row + 1)),
            )
            sheet.column_dimensions[get_column_letter(index)].width = min(60, width + 2)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _period(report: MonthlyReport) -> str:
    last_day = report.end - timedelta(days=1)
    return (
        f"Hồ sơ tiếp nhận từ {report.start:%d/%m/%Y} đến {last_day:%d/%m/%Y}; số liệu đến "
        f"{report.as_of:%d/%m/%Y %H:%M} (giờ Việt Nam) / dossiers received in the month, as of that time"
    )
