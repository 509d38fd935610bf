"""The demo's commands: `mssql-lakehouse demo ...` and `mssql-lakehouse quickstart`."""
