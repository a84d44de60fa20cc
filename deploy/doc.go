// Package deploy holds no runtime code: its tests check the production
// deployment files at the repository root (docker-compose.yml, Dockerfile and
// deploy/) against the code they deploy — config.Vars, the Temporal version in
// go.mod and workflows.SearchAttributes — so that the two cannot drift apart.
package deploy
