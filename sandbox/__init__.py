"""Local sandbox: real Kubernetes clusters and the Pulumi engine built from the Go module proxy."""
