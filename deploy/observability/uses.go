package observability

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// NotExported are the series the rules and the dashboard may read that no
// connector process exports, each with the reason. Every other series they
// read must be on a connector's /metrics.
var NotExported = map[string]string{
	"up": "Prometheus's own: written by the Prometheus server for every scrape of a target, never exported by the target",
}

// TargetLabels are the labels Prometheus adds to every series of a target
// when it scrapes it: no /metrics carries them.
var TargetLabels = map[string]string{
	"job":      "the scrape job's name (prometheus.yml: connector-api, connector-worker)",
	"instance": "the scraped target's host:port",
}

// Use is a series the rules or the dashboard read.
type Use struct {
	// Metric is the series name as Prometheus stores it: a histogram's
	// _bucket, _sum or _count, a counter's _total.
	Metric string
	// Labels are the label names the queries match on, group by or join on
	// (le for a histogram's buckets).
	Labels []string
	// Jobs are the job names the queries match (job="x", job=~"x|y").
	Jobs []string
	// Sources are the queries that read it (Query.Source).
	Sources []string
}

// Uses are the series read by the queries, by metric name.
func Uses(queries []Query) ([]Use, error) {
	type acc struct{ labels, jobs, sources map[string]bool }
	byName := map[string]*acc{}
	var err error
	for _, q := range queries {
		parser.Inspect(q.Expr, func(node parser.Node, path []parser.Node) error {
			vs, ok := node.(*parser.VectorSelector)
			if !ok || err != nil {
				return nil
			}
			name, e := selectorName(vs)
			if e != nil {
				err = fmt.Errorf("%s: %w", q.Source, e)
				return nil
			}
			a := byName[name]
			if a == nil {
				a = &acc{labels: map[string]bool{}, jobs: map[string]bool{}, sources: map[string]bool{}}
				byName[name] = a
			}
			a.sources[q.Source] = true
			for _, m := range vs.LabelMatchers {
				if m.Name == labels.MetricName {
					continue
				}
				a.labels[m.Name] = true
				if m.Name == "job" {
					for _, j := range matchedValues(m) {
						a.jobs[j] = true
					}
				}
			}
			for _, l := range ancestorLabels(path) {
				a.labels[l] = true
			}
			for _, l := range q.Labels {
				a.labels[l] = true
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	out := make([]Use, 0, len(byName))
	for name, a := range byName {
		out = append(out, Use{
			Metric: name, Labels: slices.Sorted(maps.Keys(a.labels)),
			Jobs: slices.Sorted(maps.Keys(a.jobs)), Sources: slices.Sorted(maps.Keys(a.sources)),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Metric < out[j].Metric })
	return out, nil
}

// selectorName is the metric a selector reads: its name, or its
// __name__="x" matcher. A selector over several metrics (__name__=~) is
// refused: which series it needs cannot be checked.
func selectorName(vs *parser.VectorSelector) (string, error) {
	if vs.Name != "" {
		return vs.Name, nil
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			return m.Value, nil
		}
	}
	return "", fmt.Errorf("selector %s names no single metric", vs)
}

// matchedValues are the values a job matcher selects: its value, or the
// alternatives of a plain a|b regular expression.
func matchedValues(m *labels.Matcher) []string {
	switch m.Type {
	case labels.MatchEqual:
		return []string{m.Value}
	case labels.MatchRegexp:
		return strings.Split(m.Value, "|")
	}
	return nil
}

// ancestorLabels are the labels the selector's enclosing expressions read
// from it: aggregations' by (...) and binary operations' on (...).
func ancestorLabels(path []parser.Node) []string {
	var out []string
	for _, n := range path {
		switch e := n.(type) {
		case *parser.AggregateExpr:
			if !e.Without {
				out = append(out, e.Grouping...)
			}
		case *parser.BinaryExpr:
			if e.VectorMatching != nil && e.VectorMatching.On {
				out = append(out, e.VectorMatching.MatchingLabels...)
			}
		}
	}
	return out
}

// Exported are the series of a /metrics answer in Prometheus's text
// format, by name as Prometheus stores them (a histogram's _bucket with
// le, _sum and _count), with the label names seen on each.
func Exported(r io.Reader) (map[string]map[string]bool, error) {
	var p expfmt.TextParser
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]bool{}
	add := func(name string, m *dto.Metric, extra ...string) {
		set := out[name]
		if set == nil {
			set = map[string]bool{}
			out[name] = set
		}
		for _, l := range m.GetLabel() {
			set[l.GetName()] = true
		}
		for _, l := range extra {
			set[l] = true
		}
	}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetType() {
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				add(name+"_bucket", m, "le")
				add(name+"_sum", m)
				add(name+"_count", m)
			case dto.MetricType_SUMMARY:
				add(name, m, "quantile")
				add(name+"_sum", m)
				add(name+"_count", m)
			default:
				add(name, m)
			}
		}
	}
	return out, nil
}

// Missing describes each use that exported does not satisfy: a metric no
// series has, or a label no series of that metric carries. NotExported
// metrics and TargetLabels are left out.
func Missing(uses []Use, exported map[string]map[string]bool) []string {
	var out []string
	for _, u := range uses {
		if _, ok := NotExported[u.Metric]; ok {
			continue
		}
		have, ok := exported[u.Metric]
		if !ok {
			out = append(out, fmt.Sprintf("%s is not exported (read by %s)", u.Metric, strings.Join(u.Sources, "; ")))
			continue
		}
		for _, l := range u.Labels {
			if _, target := TargetLabels[l]; !target && !have[l] {
				out = append(out, fmt.Sprintf("%s has no label %s (read by %s)", u.Metric, l, strings.Join(u.Sources, "; ")))
			}
		}
	}
	return out
}
