"""The code location: assets, checks, jobs and automation, with the deployment's resources."""

import dagster as dg

from mssql_lakehouse.assets import customer_360 as customer_360_assets
from mssql_lakehouse.assets import dr as dr_assets
from mssql_lakehouse.assets.finance import bronze as finance_bronze
from mssql_lakehouse.assets.finance import gold as finance_gold
from mssql_lakehouse.assets.finance import silver as finance_silver
from mssql_lakehouse.assets.inventory import bronze as inventory_bronze
from mssql_lakehouse.assets.inventory import gold as inventory_gold
from mssql_lakehouse.assets.inventory import silver as inventory_silver
from mssql_lakehouse.assets.sales import bronze as sales_bronze
from mssql_lakehouse.assets.sales import gold as sales_gold
from mssql_lakehouse.assets.sales import silver as sales_silver
from mssql_lakehouse.checks import customer_360 as customer_360_checks
from mssql_lakehouse.checks import finance as finance_checks
from mssql_lakehouse.checks import inventory as inventory_checks
from mssql_lakehouse.checks import replication as replication_checks
from mssql_lakehouse.checks import sales as sales_checks
from mssql_lakehouse.jobs import sales_gold_refresh_job, sales_nightly_job
from mssql_lakehouse.ops.maintenance import lakehouse_maintenance_job, lakehouse_maintenance_schedule
from mssql_lakehouse.resources.deployment import executor_for, resources_for
from mssql_lakehouse.schedules.finance import finance_close_job, finance_close_schedule
from mssql_lakehouse.schedules.replication import dr_replication_job, dr_replication_schedule
from mssql_lakehouse.schedules.sales import sales_nightly_schedule
from mssql_lakehouse.sensors.customer_changes import customer_changes_sensor
from mssql_lakehouse.sensors.inventory_files import inventory_files_sensor, inventory_job
from mssql_lakehouse.sensors.run_alerts import record_failed_checks, record_failed_runs
from mssql_lakehouse.sensors.sales import sales_late_data_sensor

defs = dg.Definitions(
    assets=dg.load_assets_from_modules(
        [
            sales_bronze, sales_silver, sales_gold,
            customer_360_assets,
            finance_bronze, finance_silver, finance_gold,
            inventory_bronze, inventory_silver, inventory_gold,
            dr_assets,
        ]
    ),
    asset_checks=dg.load_asset_checks_from_modules([sales_checks, customer_360_checks, finance_checks, inventory_checks, replication_checks]),
    jobs=[
        sales_nightly_job, sales_gold_refresh_job, finance_close_job, inventory_job, dr_replication_job,
        lakehouse_maintenance_job,
    ],
    schedules=[
        sales_nightly_schedule(), finance_close_schedule(), dr_replication_schedule(), lakehouse_maintenance_schedule(),
    ],
    sensors=[
        sales_late_data_sensor,
        record_failed_runs,
        record_failed_checks,
        customer_changes_sensor,
        inventory_files_sensor,
    ],
    resources=resources_for(),
    executor=executor_for(),
)
