package worker

import "time"

// defaultStopTimeout bounds how long Stop waits for running activities.
const defaultStopTimeout = 10 * time.Second
