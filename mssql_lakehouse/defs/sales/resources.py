"""Configuration of the nightly SKU alerts (thresholds and severities), overridable per deployment."""

import dagster as dg
from pydantic import Field

from mssql_lakehouse.lib.transforms.sku_alerts import SEVERITIES, AlertThresholds


class SkuAlertSettings(dg.ConfigurableResource):
    """Thresholds as fractions of the forecast (0.3 = 30 %); severity by the size of the deviation."""

    over_forecast_pct: float = Field(default=AlertThresholds.over_forecast_pct)
    under_forecast_pct: float = Field(default=AlertThresholds.under_forecast_pct)
    sudden_drop_pct: float = Field(default=AlertThresholds.sudden_drop_pct)
    min_forecast_qty: int = Field(default=AlertThresholds.min_forecast_qty, description="Ignore smaller forecasts.")
    medium_pct: float = Field(default=AlertThresholds.medium_pct)
    high_pct: float = Field(default=AlertThresholds.high_pct)
    severities: list[str] = Field(default=list(SEVERITIES), description="The severities alerts may carry.")

    def thresholds(self) -> AlertThresholds:
        return AlertThresholds(
            over_forecast_pct=self.over_forecast_pct,
            under_forecast_pct=self.under_forecast_pct,
            sudden_drop_pct=self.sudden_drop_pct,
            min_forecast_qty=self.min_forecast_qty,
            medium_pct=self.medium_pct,
            high_pct=self.high_pct,
        )
