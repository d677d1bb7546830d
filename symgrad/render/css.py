"""The style sheet of symgrad's HTML documents (inline, scoped to ``.symgrad``, nothing fetched).

Fonts are only named, never downloaded: a reader's own serif, sans and math
fonts are used (Latin Modern Math, STIX Two Math or DejaVu Math where present).
The text must stay valid inside an XML document: no ``<`` and no ``&``.
"""

from __future__ import annotations

__all__ = ["STYLE"]

STYLE = """
.symgrad { --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --soft: #f6f8fa; --ok: #1a7f37; --fail: #cf222e;
  --fwd: #0550ae; --back: #c4321c;
  color: var(--ink); font-family: "Source Serif 4", "DejaVu Serif", Georgia, "Times New Roman", serif;
  font-size: 17px; line-height: 1.55; max-width: 74rem; margin: 0 auto; padding: 2rem 1.5rem 4rem; }
.symgrad h1, .symgrad h2, .symgrad h3, .symgrad .lead, .symgrad table, .symgrad figcaption, .symgrad footer {
  font-family: -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif; }
.symgrad h1 { font-size: 2rem; line-height: 1.2; margin: 0 0 .6rem; }
.symgrad h2 { font-size: 1.35rem; margin: 2.4rem 0 .8rem; padding-bottom: .3rem; border-bottom: 1px solid var(--line); }
.symgrad p { margin: .6rem 0; }
.symgrad .lead { font-size: 1rem; background: var(--soft); border: 1px solid var(--line); border-radius: 8px;
  padding: .7rem 1rem; }
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
.symgrad table { border-collapse: collapse; margin: .6rem 0 1.2rem; font-size: .95rem; }
.symgrad caption { caption-side: top; text-align: left; color: var(--muted); padding: 0 0 .35rem; font-size: .92rem; }
.symgrad table.derivation { width: 100%; }
.symgrad table.derivation > tbody > tr.step > td { padding: .45rem .5rem; border-top: 1px solid var(--line);
  vertical-align: middle; }
.symgrad table.derivation td.lhs { text-align: right; white-space: nowrap; width: 1%; }
.symgrad table.derivation td.eq { text-align: center; width: 1%; padding: .45rem .15rem; }
.symgrad table.derivation td.rhs { text-align: left; overflow-x: auto; max-width: 44rem; }
.symgrad table.derivation td.value { white-space: nowrap; width: 1%; color: var(--fwd); padding-left: .8rem; }
.symgrad table.derivation td.shape { white-space: nowrap; width: 1%; color: var(--muted); }
.symgrad table.derivation td.rule { color: var(--muted); width: 15rem; font-size: .88rem; }
.symgrad table.derivation td.rule .proof { font-size: .78rem; margin-top: .15rem; }
.symgrad table.derivation td.mark { text-align: center; width: 2rem; }
.symgrad tr.detail > td { padding: 0 0 .6rem 2.2rem; }
.symgrad details { border-left: 3px solid var(--line); background: var(--soft); border-radius: 0 6px 6px 0;
  padding: .3rem .8rem .2rem; }
.symgrad summary { cursor: pointer; color: var(--muted); font-size: .92rem; padding: .2rem 0; }
.symgrad details table.derivation { margin: .3rem 0 .4rem; font-size: .9rem; }
.symgrad details table.derivation td.rule { width: 11rem; }
.symgrad table.data th, .symgrad table.data td { padding: .4rem .75rem; border-bottom: 1px solid var(--line);
  text-align: left; }
.symgrad table.data th { background: var(--soft); font-weight: 600; border-top: 1px solid var(--line); }
.symgrad table.data td.number { text-align: right; }
.symgrad table.data tr.FAIL td { background: #ffebe9; }
.symgrad table.data tr.kink td, .symgrad table.data tr.subgradient td { background: #fff8c5; }
.symgrad ul { padding-left: 1.4rem; }
.symgrad figure { margin: 1rem 0 1.6rem; }
.symgrad .graph { overflow-x: auto; border: 1px solid var(--line); border-radius: 8px; padding: .6rem;
  background: #fff; }
.symgrad .graph svg { display: block; width: 100%; min-width: 54rem; height: auto; }
.symgrad figcaption { color: var(--muted); font-size: .92rem; margin-top: .45rem; }
.symgrad .display { text-align: center; margin: 1rem 0; overflow-x: auto; }
.symgrad footer { margin-top: 3rem; color: var(--muted); font-size: .85rem; border-top: 1px solid var(--line);
  padding-top: .6rem; }
"""
