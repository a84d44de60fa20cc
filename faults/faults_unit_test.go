package faults

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTallyOf(t *testing.T) {
	id := func(s string) *string { return &s }
	sent := []message{{id: "m1", text: "one"}, {id: "m2", text: "two"}, {id: "m3", text: "three"}, {text: "four"}}
	tests := []struct {
		name string
		rows []stored
		want tally
	}{
		{"all once", []stored{{id("m1"), "one"}, {id("m2"), "two"}, {id("m3"), "three"}, {id("x4"), "four"}},
			tally{Sent: 4, Stored: 4}},
		{"one lost", []stored{{id("m1"), "one"}, {id("m3"), "three"}, {id("x4"), "four"}},
			tally{Sent: 4, Stored: 3, Lost: 1}},
		{"twice under its id", []stored{{id("m1"), "one"}, {id("m1"), "one"}, {id("m2"), "two"}, {id("m3"), "three"}, {nil, "four"}},
			tally{Sent: 4, Stored: 4, Duplicated: 1}},
		{"a copy under another id or none is found by its text", []stored{{id("m1"), "one"}, {id("other"), "one"}, {nil, "two"}, {id("m2"), "two"}},
			tally{Sent: 4, Stored: 2, Lost: 2, Duplicated: 2}},
		{"a row nobody sent", []stored{{id("m1"), "one"}, {id("m2"), "two"}, {id("m3"), "three"}, {nil, "four"}, {id("zz"), "spam"}},
			tally{Sent: 4, Stored: 4, Unexpected: 1}},
		{"nothing stored", nil, tally{Sent: 4, Lost: 4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tallyOf(sent, tc.rows))
		})
	}
}

func TestPassed(t *testing.T) {
	ok := Result{Sent: 10, Stored: 10}
	assert.True(t, ok.passed())
	for name, r := range map[string]Result{
		"nothing sent": {},
		"lost":         {Sent: 10, Stored: 9, Lost: 1},
		"duplicated":   {Sent: 10, Stored: 10, Duplicated: 1},
		"unexpected":   {Sent: 10, Stored: 10, Unexpected: 1},
		"step failed":  {Sent: 10, Stored: 10, Error: "the API after the outage: exited"},
	} {
		assert.False(t, r.passed(), name)
	}
}

func TestPrintTable(t *testing.T) {
	var b strings.Builder
	PrintTable(&b, []Result{
		{Case: "duplicates", Unit: unitInbound, Sent: 2000, Stored: 2000, Elapsed: 83*time.Second + 420*time.Millisecond, Passed: true,
			Notes: []string{"20000 copies"}},
		{Case: "db-cut", Unit: unitInbound, Sent: 2000, Stored: 1999, Lost: 1, Elapsed: 5 * time.Minute, Logs: "/tmp/x"},
	})
	out := b.String()
	lines := strings.Split(out, "\n")
	require.GreaterOrEqual(t, len(lines), 4)
	assert.Equal(t, "| case       | sent | stored | lost | duplicated |    time |", lines[0])
	assert.Equal(t, "| ---------- | ---: | -----: | ---: | ---------: | ------: |", lines[1])
	assert.Equal(t, "| duplicates | 2000 |   2000 |    0 |          0 | 1m23.4s |", lines[2])
	assert.Equal(t, "| db-cut     | 2000 |   1999 |    1 |          0 |    5m0s |", lines[3])
	assert.Contains(t, out, "  - 20000 copies\n")
	assert.Contains(t, out, "  FAIL: 1 lost, 0 duplicated\n  logs: /tmp/x\n")
	assert.NotContains(t, strings.SplitAfter(out, "db-cut (")[0], "FAIL", "the passing case shows no failure")
}

func TestOptions(t *testing.T) {
	o, err := Options{Binary: "connector"}.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", o.DatabaseURL)
	assert.Equal(t, DefaultMessages, o.Messages)
	assert.Equal(t, DefaultOutage, o.Outage)

	o, err = Options{Binary: "connector", DatabaseURL: "postgres://u:p@localhost/db"}.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, "postgres://u:p@127.0.0.1:5432/db", o.DatabaseURL)

	for _, bad := range []Options{
		{},
		{Binary: "connector", DatabaseURL: "data/connector.db"},
		{Binary: "connector", DatabaseURL: "postgres://postgres@db.example.com:5432/postgres"},
		{Binary: "connector", DatabaseURL: "postgres://postgres@10.0.0.5/postgres"},
		{Binary: "connector", Replies: 101},
		{Binary: "connector", Outage: time.Millisecond},
		{Binary: "connector", Messages: 2},
	} {
		_, err := bad.withDefaults()
		assert.Error(t, err, "%+v", bad)
	}
	_, err = selectCases([]string{"db-cut", "nope"})
	assert.ErrorContains(t, err, `unknown case "nope"`)
	got, err := selectCases([]string{"reply-kill", "duplicates"})
	require.NoError(t, err)
	assert.Equal(t, []string{"reply-kill", "duplicates"}, []string{got[0].name, got[1].name})
}

func TestCopyOrder(t *testing.T) {
	const n, copies, block = 10, 3, 4
	order := copyOrder(n, copies, block)
	require.Len(t, order, n*copies)
	seen := map[delivery]bool{}
	for _, d := range order {
		assert.False(t, seen[d], "copy %+v posted once", d)
		seen[d] = true
	}
	// Every block is contiguous: the copies of messages 0-3, 4-7 and 8-9
	// each fill one run of the order.
	runs := 0
	for i := range order {
		if i == 0 || order[i].msg/block != order[i-1].msg/block {
			runs++
		}
	}
	assert.Equal(t, 3, runs)
}
