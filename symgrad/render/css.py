"""The style sheet of symgrad's HTML documents (inline, scoped to ``.symgrad``, nothing fetched).

Fonts are only named, never downloaded: a reader's own serif, sans and math
fonts are used (Latin Modern Math, STIX Two Math or DejaVu Math where present).
The text must stay valid inside an XML document: no ``<`` and no ``&``.

Inside a notebook the fragment sits under JupyterLab's and the classic notebook's own table
rules (``table-layout: fixed``, right-aligned cells, striped rows), which drew a row's sides and
its "=" on top of each other: the ``div.symgrad`` rules override them with a higher specificity.
Sizes are in px, not rem: the classic notebook's root font is 10px.
"""

from __future__ import annotations

__all__ = ["STYLE"]

STYLE = """
.symgrad { --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --soft: #f6f8fa; --ok: #1a7f37; --fail: #cf222e;
  --fwd: #0550ae; --back: #c4321c;
  color: var(--ink); font-family: "Source Serif 4", "DejaVu Serif", Georgia, "Times New Roman", serif;
  font-size: 17px; line-height: 1.55; max-width: 1184px; margin: 0 auto; padding: 32px 24px 64px; }
.symgrad h1, .symgrad h2, .symgrad h3, .symgrad .lead, .symgrad table, .symgrad figcaption, .symgrad footer {
  font-family: -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif; }
.symgrad h1 { font-size: 32px; line-height: 1.2; margin: 0 0 9.6px; }
.symgrad h2 { font-size: 21.6px; margin: 38.4px 0 12.8px; padding-bottom: 4.8px; border-bottom: 1px solid var(--line); }
.symgrad p { margin: 9.6px 0; }
.symgrad .lead { font-size: 16px; background: var(--soft); border: 1px solid var(--line); border-radius: 8px;
  padding: 11.2px 16px; }
.symgrad math { font-family: "STIX Two Math", "Cambria Math", "DejaVu Math TeX Gyre", "Latin Modern Math", math;
  font-size: 1.08em; }
.symgrad code { font-family: "DejaVu Sans Mono", ui-monospace, Menlo, Consolas, monospace; font-size: .88em;
  background: var(--soft); border: 1px solid var(--line); border-radius: 4px; padding: .05em .35em; }
.symgrad .num { font-family: "DejaVu Sans Mono", ui-monospace, Menlo, Consolas, monospace; font-size: .86em;
  font-variant-numeric: tabular-nums; white-space: nowrap; }
.symgrad .muted { color: var(--muted); }
.symgrad .mark { font-weight: bold; font-size: 1.15em; }
.symgrad .mark.ok { color: var(--ok); }
.symgrad .mark.fail { color: var(--fail); }
.symgrad table { border-collapse: collapse; margin: 9.6px 0 19.2px; font-size: 15.2px; }
.symgrad caption { caption-side: top; text-align: left; color: var(--muted); padding: 0 0 5.6px; font-size: 14.7px; }
.symgrad table.derivation { width: 100%; }
.symgrad table.derivation > tbody > tr.step > td { padding: 7.2px 8px; border-top: 1px solid var(--line);
  vertical-align: middle; }
.symgrad table.derivation td.lhs { text-align: right; white-space: nowrap; width: 1%; }
.symgrad table.derivation td.eq { text-align: center; width: 1%; padding: 7.2px 2.4px; }
.symgrad table.derivation td.rhs { text-align: left; }
.symgrad td.rhs .wrap { white-space: normal; }
.symgrad table.derivation td.value { white-space: nowrap; width: 1%; color: var(--fwd); padding-left: 12.8px; }
.symgrad table.derivation td.eqno { white-space: nowrap; width: 1%; color: var(--muted); font-size: 14.1px;
  padding-right: 2px; }
.symgrad table.derivation td.shape { white-space: nowrap; width: 1%; color: var(--muted); }
.symgrad table.derivation td.rule { color: var(--muted); width: 240px; font-size: 14.1px; }
.symgrad table.derivation td.rule .proof { font-size: 12.5px; margin-top: 2.4px; }
.symgrad table.derivation td.mark { text-align: center; width: 32px; }
.symgrad tr.detail > td { padding: 0 0 9.6px 35.2px; }
.symgrad details { border-left: 3px solid var(--line); background: var(--soft); border-radius: 0 6px 6px 0;
  padding: 4.8px 12.8px 3.2px; }
.symgrad summary { cursor: pointer; color: var(--muted); font-size: 14.7px; padding: 3.2px 0; }
.symgrad details table.derivation { margin: 4.8px 0 6.4px; font-size: 14.4px; }
.symgrad details table.derivation td.rule { width: 176px; }
.symgrad table.data th, .symgrad table.data td { padding: 6.4px 12px; border-bottom: 1px solid var(--line);
  text-align: left; }
.symgrad table.data th { background: var(--soft); font-weight: 600; border-top: 1px solid var(--line); }
.symgrad table.data td.number { text-align: right; }
.symgrad table.data tr.FAIL td { background: #ffebe9; }
.symgrad table.data tr.kink td, .symgrad table.data tr.subgradient td { background: #fff8c5; }
.symgrad ul { padding-left: 22.4px; }
.symgrad figure { margin: 16px 0 25.6px; }
.symgrad .graph { overflow-x: auto; border: 1px solid var(--line); border-radius: 8px; padding: 9.6px;
  background: #fff; }
.symgrad .graph svg { display: block; width: 100%; min-width: 0; height: auto; }
.symgrad figcaption { color: var(--muted); font-size: 14.7px; margin-top: 7.2px; }
.symgrad .display { text-align: center; margin: 16px 0; overflow-x: auto; }
div.symgrad table.derivation, div.symgrad table.data { table-layout: auto; margin-left: 0; margin-right: 0;
  border: none; color: inherit; }
div.symgrad table.derivation td, div.symgrad table.derivation tr, div.symgrad table.data td, div.symgrad table.data th,
div.symgrad table.data tr { text-align: left; line-height: 1.4; white-space: normal; max-width: none; }
div.symgrad table tbody tr:nth-child(n) { background: transparent; }
div.symgrad summary, div.symgrad caption { text-align: left; }
div.symgrad td.mark, div.symgrad span.mark { background: transparent; padding-left: 0; padding-right: 0; }
.symgrad footer { margin-top: 48px; color: var(--muted); font-size: 13.6px; border-top: 1px solid var(--line);
  padding-top: 9.6px; }
@media (max-width: 900px) { .symgrad table.derivation td.rule { width: 150px; } .symgrad { padding: 16px 10px 48px; } }
@media print { .symgrad { max-width: none; padding: 0; font-size: 11pt; }
  .symgrad .graph { overflow: visible; } .symgrad table.derivation td.rule { width: 130px; }
  .symgrad tr.step { break-inside: avoid; } .symgrad summary { list-style: none; } }
"""
