"""The Streamlit dashboard: a thin shell over :func:`fb_analyst.pipeline.analyse`.

``fb-analyst dashboard [INPUT...]`` runs ``streamlit run dashboard/app.py``. Modules: ``app`` (the
entry: data source, filters, windows, navigation, downloads), ``data`` (glue to the library: input
hashing, upload materialisation, table filters, the per-input analysis cache, exports), ``frames``
(result records -> display tables), ``charts`` (Plotly figures of numbers the stages computed) and
``views/`` (one module per page). The pages hold no SQL and no KPI maths.
"""
