"""Writes baikal.pdf: a two-page Russian text (Cyrillic) set in DejaVu Sans, with fpdf2 2.8.9.

Run once; the PDF is committed beside this script (`dream_assets_tests/data/non-english/`). The text was
written for DREAM's tests (CC0).
"""

import sys
from pathlib import Path

from fpdf import FPDF

PAGES = [
    (
        "Озеро Байкал",
        "Байкал — озеро тектонического происхождения в южной части Восточной Сибири. Это самое глубокое "
        "озеро на планете: его наибольшая глубина составляет 1642 метра. Байкал содержит около двадцати "
        "процентов мировых запасов пресной воды, не считая ледников. Возраст озера оценивают примерно в "
        "двадцать пять миллионов лет, что делает его одним из древнейших озёр Земли. В Байкал впадает "
        "более трёхсот рек, а вытекает только одна — Ангара.",
    ),
    (
        "Природа и охрана",
        "В озере обитает байкальская нерпа, единственный пресноводный тюлень этого региона. Более половины "
        "видов животных и растений Байкала эндемичны, то есть не встречаются больше нигде. Зимой озеро "
        "замерзает, и толщина льда достигает одного метра. В 1996 году Байкал был включён в список "
        "объектов всемирного наследия ЮНЕСКО. Крупнейший остров озера называется Ольхон.",
    ),
]


def main(font: str, out: str) -> None:
    pdf = FPDF()
    pdf.add_font("DejaVu", fname=font)
    for heading, text in PAGES:
        pdf.add_page()
        pdf.set_font("DejaVu", size=16)
        pdf.multi_cell(0, 10, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", size=11)
        pdf.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
    pdf.output(out)


if __name__ == "__main__":
    main(
        sys.argv[1] if len(sys.argv) > 1 else "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        str(Path(__file__).with_name("baikal.pdf")),
    )
