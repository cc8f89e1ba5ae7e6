// Package docker holds Facefleet's container images (Dockerfile.*) and their tests: dockerfile_test.go parses every
// Dockerfile with BuildKit's parser and checks what the images promise; smoke_test.go runs the built CPU images'
// binaries in the images' own filesystems (docker/README.md). It is a module of its own so that BuildKit's parser
// does not enter the main module's dependencies.
package docker
