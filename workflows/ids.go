package workflows

import (
	"fmt"
	"time"
)

// DiagnosticsWorkflowID names one diagnostics run; the nanosecond timestamp
// keeps concurrent runs apart and sorts them in the Temporal UI.
func DiagnosticsWorkflowID(at time.Time) string {
	return fmt.Sprintf("diagnostics/%d", at.UnixNano())
}
