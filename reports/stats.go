package reports

import (
	"math"
	"slices"
)

// statAgg is a duration summary in milliseconds, as Postgres computes it
// (count, sum, max, percentile_disc 0.5 and 0.9) or as samplesAgg does
// from the values; Stats is computed from it the same way for both, so
// both engines give identical answers.
type statAgg struct {
	N, Sum, Max, P50, P90 int64
}

// stats converts to seconds; Avg is the sum over the count.
func (a statAgg) stats() Stats {
	if a.N == 0 {
		return Stats{}
	}
	return Stats{
		Count: a.N,
		Avg:   float64(a.Sum) / float64(a.N) / 1000,
		P50:   float64(a.P50) / 1000,
		P90:   float64(a.P90) / 1000,
		Max:   float64(a.Max) / 1000,
	}
}

// samplesAgg summarizes values (sorted in place).
func samplesAgg(v []int64) statAgg {
	if len(v) == 0 {
		return statAgg{}
	}
	slices.Sort(v)
	a := statAgg{N: int64(len(v)), Max: v[len(v)-1], P50: nearestRank(v, 0.5), P90: nearestRank(v, 0.9)}
	for _, x := range v {
		a.Sum += x
	}
	return a
}

// nearestRank is v[ceil(p·n)−1] of sorted v, computed as Postgres's
// percentile_disc does (ceil of the float product, at least the first).
func nearestRank(sorted []int64, p float64) int64 {
	i := max(int(math.Ceil(p*float64(len(sorted))))-1, 0)
	return sorted[min(i, len(sorted)-1)]
}

// pgStat is the SQL of a statAgg over a column on Postgres: count, sum,
// max, p50, p90 (read with statDest).
func pgStat(column string) string {
	return "count(" + column + "), CAST(COALESCE(sum(" + column + "), 0) AS BIGINT), COALESCE(max(" + column + "), 0), " +
		"COALESCE(percentile_disc(0.5) WITHIN GROUP (ORDER BY " + column + "), 0), " +
		"COALESCE(percentile_disc(0.9) WITHIN GROUP (ORDER BY " + column + "), 0)"
}
