"""The Streamlit dashboard: a thin shell over the analysis pipeline (``fb-analyst dashboard``).

``fb-analyst dashboard [INPUT...]`` runs ``streamlit run dashboard/app.py`` on 127.0.0.1. Modules:
``app`` (the entry: data source, filters, windows, navigation, downloads, on-screen errors),
``data`` (glue to the library: sources and their hashes, upload materialisation, table filters,
chart series), ``store`` (the per-input analysis cache, running the pipeline's plan in stages),
``exports`` (JSON outputs, HTML report, name-override file), ``frames`` (records -> display
tables), ``charts`` (Plotly figures of computed numbers) and ``views/`` (one module per page).
The pages hold no SQL and no KPI maths.
"""
