package api_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/reports"
)

// flatJSON flattens a decoded JSON value into dotted keys (an independent
// reading of the CSV's column naming).
func flatJSON(prefix string, v any, out map[string]string) {
	key := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			flatJSON(key(k), x, out)
		}
	case []any:
		for i, x := range t {
			flatJSON(key(strconv.Itoa(i)), x, out)
		}
	case json.Number:
		out[prefix] = t.String()
	case string:
		out[prefix] = t
	case bool:
		out[prefix] = strconv.FormatBool(t)
	case nil:
		out[prefix] = ""
	}
}

// TestReportsAPI: each report and grouping answers what the document
// describes, the same figures as JSON and as CSV; admins only.
func TestReportsAPI(t *testing.T) {
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		w := seedDrill(t, env)
		c := newOpenAPIChecker(t)
		from, to := w.from.Format("2006-01-02"), w.to.Add(-24*3600e9).Format("2006-01-02")
		type tc struct{ path, rowsKey, totalsKey string }
		var cases []tc
		for _, g := range reports.InteractionGroupBys {
			cases = append(cases, tc{fmt.Sprintf("/api/reports/interactions?from=%s&to=%s&tz=Europe/Rome&groupBy=%s", from, to, g), "rows", "totals"})
		}
		cases = append(cases, tc{fmt.Sprintf("/api/reports/interactions?from=%s&to=%s&accountId=%d&includeMigrated=true&groupBy=queue", from, to, w.alpha), "rows", "totals"})
		for _, g := range reports.DeliveryGroupBys {
			cases = append(cases, tc{fmt.Sprintf("/api/reports/deliveries?from=%s&to=%s&groupBy=%s", from, to, g), "rows", "totals"})
		}
		cases = append(cases, tc{"/api/reports/live", "queues", ""})
		for _, k := range cases {
			rec := c.valid(env.e, http.MethodGet, k.path, adminToken, nil)
			require.Equal(t, http.StatusOK, rec.Code, "%s: %s", k.path, rec.Body.String())
			dec := json.NewDecoder(strings.NewReader(rec.Body.String()))
			dec.UseNumber()
			var doc map[string]any
			require.NoError(t, dec.Decode(&doc))
			rows, _ := doc[k.rowsKey].([]any)

			// CSV: the same figures, row by row, then the total line.
			sep := "&"
			if !strings.Contains(k.path, "?") {
				sep = "?"
			}
			recCSV := c.valid(env.e, http.MethodGet, k.path+sep+"format=csv", adminToken, nil)
			require.Equal(t, http.StatusOK, recCSV.Code, recCSV.Body.String())
			assert.True(t, strings.HasPrefix(recCSV.Header().Get("Content-Type"), "text/csv"))
			lines, err := csv.NewReader(strings.NewReader(recCSV.Body.String())).ReadAll()
			require.NoError(t, err, "RFC 4180 CSV")
			header := lines[0]
			assert.Equal(t, "row", header[0])
			wantLines := len(rows) + 1
			require.Len(t, lines, 1+wantLines, "%s: a header, a line per row, a total line", k.path)
			for i, line := range lines[1:] {
				got := map[string]string{}
				for j, v := range line {
					if v != "" {
						got[header[j]] = v
					}
				}
				want := map[string]string{}
				if i < len(rows) {
					assert.Equal(t, "group", got["row"])
					flatJSON("", rows[i], want)
				} else {
					assert.Equal(t, "total", got["row"])
					if k.totalsKey != "" {
						flatJSON("", doc[k.totalsKey], want)
					} else {
						for _, key := range []string{"open", "queued", "unattended", "agents"} {
							flatJSON(key, doc[key], want)
						}
					}
				}
				delete(got, "row")
				if k.totalsKey == "" {
					// Two requests apart, the wait has grown by a millisecond.
					if i < len(rows) {
						assert.NotEmpty(t, got["longestWaitSeconds"], "a queue line has its longest wait")
					}
					delete(got, "longestWaitSeconds")
					delete(want, "longestWaitSeconds")
				}
				for key, v := range want {
					if v == "" {
						delete(want, key)
					}
				}
				assert.Equal(t, want, got, "%s: line %d", k.path, i+1)
			}
			// Accept: text/csv does the same (live moves with the clock:
			// its header is compared).
			req := c.request(http.MethodGet, k.path, adminToken, nil)
			req.Header.Set("Accept", "text/csv")
			recAccept := c.serveRequest(env.e, req)
			if k.totalsKey != "" {
				assert.Equal(t, recCSV.Body.String(), recAccept.Body.String(), k.path)
			} else {
				first, _, _ := strings.Cut(recAccept.Body.String(), "\r\n")
				assert.Equal(t, strings.Join(header, ","), first, k.path)
			}
		}

		// An agent may not read reports.
		ag := env.createAgent("reporter")
		for _, p := range []string{"/api/reports/interactions?from=" + from, "/api/reports/deliveries?from=" + from, "/api/reports/live"} {
			rec := env.call(http.MethodGet, p, ag.Token, nil)
			assert.Equal(t, http.StatusForbidden, rec.Code, p)
		}
	})
}

// Every malformed parameter is a 400 naming it.
func TestReportsAPIRefusesBadParameters(t *testing.T) {
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		for _, k := range []struct{ query, names string }{
			{"", "from: required"},
			{"from=yesterday", "from: want an RFC 3339 time"},
			{"from=2026-13-01", "from: want"},
			{"from=2026-03-01&to=soon", "to: want an RFC 3339 time"},
			{"from=2026-03-10&to=2026-03-01", "to (2026-03-02T00:00:00Z) must be after from"},
			{"from=2024-01-01&to=2026-01-01", "at most 400"},
			{"from=2026-03-01&groupBy=month", "groupBy: want one of account, queue, agent, channel, disposition, day, week"},
			{"from=2026-03-01&tz=Mars/Olympus", "tz: want an IANA time zone"},
			{"from=2026-03-01&tz=Local", "tz: want an IANA time zone"},
			{"from=2026-03-01&accountId=abc", "accountId: want a positive integer"},
			{"from=2026-03-01&queueId=0", "queueId: want a positive integer"},
			{"from=2026-03-01&channel=SMS", "channel: want WHATSAPP or INSTAGRAM"},
			{"from=2026-03-01&includeMigrated=true", "includeMigrated: needs accountId"},
			{"from=2026-03-01&includeMigrated=maybe", "includeMigrated: want true or false"},
			{"from=2026-03-01&format=xml", "format: want json or csv"},
		} {
			rec := env.admin(http.MethodGet, "/api/reports/interactions?"+k.query, nil)
			require.Equal(t, http.StatusBadRequest, rec.Code, "%q: %s", k.query, rec.Body.String())
			var body struct {
				Error struct{ Code, Message string }
			}
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
			assert.Equal(t, "invalid_query", body.Error.Code)
			assert.Contains(t, body.Error.Message, k.names, k.query)
		}
		rec := env.admin(http.MethodGet, "/api/reports/deliveries?from=2026-03-01&groupBy=queue", nil)
		assert.Equal(t, http.StatusBadRequest, rec.Code)
		assert.Contains(t, rec.Body.String(), "groupBy: want one of account, channel, class, code, day")
		rec = env.admin(http.MethodGet, "/api/reports/live?channel=FAX", nil)
		assert.Equal(t, http.StatusBadRequest, rec.Code)
	})
}

// A date in tz: from is its midnight there, to the end of that day.
func TestReportsAPIDatesAreLocalDays(t *testing.T) {
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		rec := env.admin(http.MethodGet, "/api/reports/interactions?from=2026-03-01&to=2026-03-01&tz=Europe/Rome", nil)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		var r reports.InteractionsReport
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &r))
		assert.Equal(t, "2026-02-28T23:00:00Z", r.From.UTC().Format("2006-01-02T15:04:05Z"))
		assert.Equal(t, "2026-03-01T23:00:00Z", r.To.UTC().Format("2006-01-02T15:04:05Z"))
		u, err := url.Parse(r.TotalsURL)
		require.NoError(t, err)
		keys := make([]string, 0, len(u.Query()))
		for k := range u.Query() {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		assert.Contains(t, keys, "openedFrom")
	})
}
