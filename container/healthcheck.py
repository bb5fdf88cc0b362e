"""The image's HEALTHCHECK: healthy when the API (/health on 8000) or the dashboard (Streamlit's
/_stcore/health on 8501) answers 200 inside the container, whichever of the two it runs."""

import sys
import urllib.request

URLS = ("http://127.0.0.1:8000/health", "http://127.0.0.1:8501/_stcore/health")

for url in URLS:
    try:
        with urllib.request.urlopen(url, timeout=4) as answer:
            if answer.status == 200:
                sys.exit(0)
    except OSError:
        pass
sys.exit(1)
