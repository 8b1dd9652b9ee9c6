"""FinOps dashboard: the entrypoint that declares the pages, draws the shared filters and
banners, and handles "no data yet".

    streamlit run dashboard/streamlit_app.py

It reads only the marts in the serving copy (`Settings.serving_path`, set through
`FINOPS_HOME` / `FINOPS_DUCKDB_PATH`) that `make run` / `finops run` publishes. Everything
drawn here (the sidebar filters, the "a load failed" banner) is on every page.
"""

from __future__ import annotations

import streamlit as st

from dashboard import banners, filters
from dashboard.data import serving, types

st.set_page_config(page_title="FinOps dashboard", page_icon=":material/savings:", layout="wide")

PAGES = {
    "Costs": [
        st.Page(
            "app_pages/overview.py", title="Overview", icon=":material/dashboard:", default=True
        ),
        st.Page(
            "app_pages/services.py", title="Services and categories", icon=":material/category:"
        ),
        st.Page("app_pages/accounts.py", title="Accounts", icon=":material/account_tree:"),
    ],
    "Watch": [
        st.Page("app_pages/anomalies.py", title="Anomalies", icon=":material/troubleshoot:"),
        st.Page(
            "app_pages/forecast.py",
            title="Forecast and budget burn",
            icon=":material/trending_up:",
        ),
        st.Page("app_pages/freshness.py", title="Data freshness", icon=":material/update:"),
    ],
    "Optimize": [
        st.Page(
            "app_pages/commitments.py",
            title="Commitments and savings",
            icon=":material/handshake:",
        ),
        st.Page("app_pages/allocation.py", title="Allocation", icon=":material/call_split:"),
        st.Page(
            "app_pages/opportunities.py",
            title="Savings opportunities",
            icon=":material/lightbulb:",
        ),
    ],
}
page = st.navigation(PAGES)

st.title("FinOps dashboard")
try:
    source, summary = serving.open_marts()
    view = filters.sidebar(source, summary)
    banners.show(view)
    st.header(page.title)
    page.run()
except types.MartsUnavailable as missing:
    st.info(
        f"{types.RUN_PIPELINE_HINT} `{missing}`. Reload this page when the run has finished.",
        icon=":material/info:",
    )
    st.stop()
except types.WarehouseBusy:
    st.warning(
        "The cost data is being refreshed right now. Reload the page in a few seconds.",
        icon=":material/hourglass_top:",
    )
    st.stop()
