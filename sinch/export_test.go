package sinch

// SetMaxListBodySize sets the page size limit of ListMessages for one test
// and returns the function that restores it.
func SetMaxListBodySize(n int64) (restore func()) {
	old := maxListBodySize
	maxListBodySize = n
	return func() { maxListBodySize = old }
}
