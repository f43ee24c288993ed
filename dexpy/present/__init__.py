"""Presenters: render what the evaluator produced (dexpy.outputs) for people.

- `highlight`: Dex source as HTML, classified by dexpy's own lexer.
- `markdown`: prose blocks (Markdown with `$..$`/`$$..$$` LaTeX as MathML).
- `html`: a whole file as one self-contained page (`--outfmt html`, `dexpy web`).
- `files`: `:html` outputs written to files for the terminal (`--html-dir`).

The text presenters (quine, plain, REPL) are `outputs.text_lines`.
"""
