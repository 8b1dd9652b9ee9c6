"""FinOps dashboard: the entrypoint that declares the pages and handles "no data yet".

    streamlit run dashboard/streamlit_app.py

It reads only the marts in the serving copy (`Settings.serving_path`, set through
`FINOPS_HOME` / `FINOPS_DUCKDB_PATH`) that `make run` / `finops run` publishes.
"""

from __future__ import annotations

import streamlit as st

from dashboard import data

st.set_page_config(page_title="FinOps dashboard", page_icon=":material/savings:", layout="wide")

pages = [
    st.Page("app_pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
]
page = st.navigation(pages)

st.title("FinOps dashboard")
try:
    page.run()
except data.MartsUnavailable as missing:
    st.info(
        f"{data.RUN_PIPELINE_HINT} `{missing}`. Reload this page when the run has finished.",
        icon=":material/info:",
    )
    st.stop()
except data.WarehouseBusy:
    st.warning(
        "The cost data is being refreshed right now. Reload the page in a few seconds.",
        icon=":material/hourglass_top:",
    )
    st.stop()
