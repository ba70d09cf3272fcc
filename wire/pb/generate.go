// Package pb holds the wire contract of the Textile Hub Users API: the .proto
// files and the Go code generated from them. Regenerate with `go generate
// ./wire/pb` (needs protoc from Debian's protobuf-compiler and the plugins from
// `go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
// google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2`).
package pb

//go:generate protoc -I . --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative billingd.proto usersd.proto threads.proto
