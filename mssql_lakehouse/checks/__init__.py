"""Asset checks: data-quality rules shared by the assets that yield them."""
