"""Maintenance KPIs and alerts: rollups of the performance data per site, customer, source and fleet, computed from
base quantities (never averages of averages), their history per day, and the checks that alert on them.

Plain SQLAlchemy (no Dagster): the KPI assets, their checks and ``ic3 kpi`` all call the same functions.
"""
