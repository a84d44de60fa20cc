package workflows

import "go.temporal.io/sdk/workflow"

// summarizer is an activity input that says in one line what the call
// does (activities/summaries.go): ids, counts and codes, no PII.
type summarizer interface{ Summary() string }

// activitySummary is the Summary the Temporal UI shows on an activity's
// events: the activity's name and what its input says it does.
func activitySummary(fn, arg any) string {
	name, ok := fn.(string)
	if !ok {
		name = activityName(fn)
	}
	if s, ok := arg.(summarizer); ok {
		return name + ": " + s.Summary()
	}
	return name
}

// execute runs activity fn with arg on ctx's options, with its summary. A
// summary is metadata of the scheduling command, not part of what replay
// compares, so histories recorded without one replay unchanged.
func execute(ctx workflow.Context, fn, arg any) workflow.Future {
	opts := workflow.GetActivityOptions(ctx)
	opts.Summary = activitySummary(fn, arg)
	return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), fn, arg)
}

// executeLocal is execute for a local activity registered as name.
func executeLocal(ctx workflow.Context, name string, arg any) workflow.Future {
	opts := workflow.GetLocalActivityOptions(ctx)
	opts.Summary = activitySummary(name, arg)
	return workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, opts), name, arg)
}
