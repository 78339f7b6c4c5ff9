"""Terminal text renderers: pure functions of report objects (and of the `diff` and
`workers` documents) to text, for the CLI and the demo.

    columns        aligned columns, clipping and signed figures shared by the tables
    window_table   one profile window: header, hot layers, the layer table, the rest
    diff_table     `diff.diff_windows` document: two runs layer by layer
    workers_table  `workers.compare_hosts` document: workers side by side, stragglers

CSV is not here: `tb_layerprof.csv_export` is the one CSV writer (CLI and plugin).
"""
