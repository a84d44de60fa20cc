// Package deploy holds no runtime code: its tests check the production
// deployment files at the repository root (docker-compose.yml, Dockerfile and
// deploy/) against the code they deploy — config.Vars, the Temporal version in
// go.mod and workflows.SearchAttributes — so that the two cannot drift apart.
// The Helm chart's tests (helm_test.go) need a helm binary in HELM_BIN;
// .ci/helm installs the pinned release and runs them.
package deploy
