// Package observability is the connector's monitoring as code: the Grafana
// dashboard (connector-dashboard.json), the Prometheus alerting rules
// (alerts.yml) and a Prometheus configuration that scrapes the api and the
// worker and loads the rules (prometheus.yml); docs/operating.md,
// "Dashboards and alerts", tells how to load them and what each alert asks
// of an operator.
//
// Its Go code reads those files the way their consumers do: the rules with
// Prometheus's own rule parser (model/rulefmt), every rule and panel query
// with the PromQL parser, and Uses lists the series and labels they read.
// Its tests check the files' shape; app/observability_test.go drives a
// running connector and compares Uses with its /metrics (Missing), so a
// renamed metric or label fails a test instead of silencing an alert. The
// package has no runtime code of the connector's: only tests import it.
package observability
