package bench

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// engineTaskQueue and engineWorkflowName belong to the engine baseline
// only: a worker in the bench process polls it, never the connector's.
const (
	engineTaskQueue    = "bench-engine-baseline"
	engineWorkflowName = "BenchEntityWorkflow"
	engineSignalName   = "inbound"
)

// benchEntityWorkflow is the engine's ceiling for an entity workflow: it
// returns after its first signal and does nothing else.
func benchEntityWorkflow(ctx workflow.Context) error {
	workflow.GetSignalChannel(ctx, engineSignalName).Receive(ctx, nil)
	return nil
}

// EngineResult is the engine alone on the same server: SignalWithStart
// into do-nothing entity workflows.
type EngineResult struct {
	Workflows   int
	Concurrency int
	// Accepted is the rate of SignalWithStart calls Temporal accepted;
	// Completed the rate of workflows that ran to their end.
	Accepted  float64
	Completed float64
	Ack       []time.Duration
}

// RunEngine starts n do-nothing workflows with SignalWithStart from
// concurrency goroutines on the server behind c, with its own worker, and
// waits for all of them to complete.
func RunEngine(ctx context.Context, c client.Client, n, concurrency int) (*EngineResult, error) {
	w := sdkworker.New(c, engineTaskQueue, sdkworker.Options{})
	w.RegisterWorkflowWithOptions(benchEntityWorkflow, workflow.RegisterOptions{Name: engineWorkflowName})
	if err := w.Start(); err != nil {
		return nil, err
	}
	defer w.Stop()
	prefix := fmt.Sprintf("bench-engine/%d/", time.Now().UnixNano())
	res := &EngineResult{Workflows: n, Concurrency: concurrency, Ack: make([]time.Duration, n)}
	runs := make([]client.WorkflowRun, n)
	var wg sync.WaitGroup
	errs := make(chan error, concurrency)
	next := make(chan int)
	start := time.Now()
	for g := 0; g < concurrency; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t0 := time.Now()
				run, err := c.SignalWithStartWorkflow(ctx, fmt.Sprintf("%s%d", prefix, i), engineSignalName, "hello",
					client.StartWorkflowOptions{TaskQueue: engineTaskQueue}, engineWorkflowName)
				if err != nil {
					errs <- err
					return
				}
				res.Ack[i], runs[i] = time.Since(t0), run
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return nil, fmt.Errorf("engine baseline: %w", err)
	default:
	}
	res.Accepted = float64(n) / time.Since(start).Seconds()
	for _, run := range runs {
		if err := run.Get(ctx, nil); err != nil {
			return nil, fmt.Errorf("engine baseline workflow: %w", err)
		}
	}
	res.Completed = float64(n) / time.Since(start).Seconds()
	return res, nil
}

// Print writes the engine baseline.
func (r *EngineResult) Print(w io.Writer) {
	_, _ = fmt.Fprintf(w, "engine baseline (same server): %d SignalWithStart into do-nothing workflows, %d concurrent\n", r.Workflows, r.Concurrency)
	printDist(w, "SignalWithStart ack", r.Ack)
	_, _ = fmt.Fprintf(w, "accepted %.0f/s, completed %.0f/s\n", r.Accepted, r.Completed)
}
