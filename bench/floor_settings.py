"""The service's own settings, with bench/floor_urls.py as the URLconf: the endpoints of
`make bench`'s "What the frameworks cost" section beside every URL of the site."""

from mlsite.settings import *  # noqa: F403 (the production settings, unchanged)

ROOT_URLCONF = "bench.floor_urls"
