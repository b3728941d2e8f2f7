// Command ceiling measures the API server's raw write ceiling: the highest objects/s any client reaches
// when it sends many concurrent minimal requests. It is the yardstick bench/migration.py reports
// akshift's apply against (issue 11): an efficient compiled client (Go's net/http, HTTP/2 over TLS,
// bodies built once), so what it cannot exceed is the server's limit on this machine, not ours.
//
// Standard library only, so it builds from the Go toolchain alone: the Python driver passes the server
// URL and the PEM files of the sandbox's admin identity instead of a kubeconfig.
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	server := flag.String("server", "", "API server URL (https://127.0.0.1:PORT)")
	ca := flag.String("ca", "", "CA certificate (PEM)")
	cert := flag.String("cert", "", "client certificate (PEM)")
	key := flag.String("key", "", "client key (PEM)")
	namespace := flag.String("namespace", "ceiling", "namespace to write into (created if missing)")
	count := flag.Int("count", 10000, "objects to write")
	workers := flag.Int("workers", 32, "requests in flight")
	size := flag.Int("size", 512, "bytes of data per ConfigMap")
	mode := flag.String("mode", "apply", "apply (server-side apply, PATCH) or create (POST)")
	prefix := flag.String("prefix", "c", "object name prefix (a run per prefix)")
	flag.Parse()

	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(*ca)
	die(err)
	pool.AppendCertsFromPEM(caPEM)
	pair, err := tls.LoadX509KeyPair(*cert, *key)
	die(err)
	transport := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: *workers,
		MaxConnsPerHost:     *workers,
	}
	client := &http.Client{Transport: transport, Timeout: 60 * time.Second}

	ns := fmt.Sprintf(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":%q}}`, *namespace)
	send(client, "PATCH", *server+"/api/v1/namespaces/"+*namespace+"?fieldManager=ceiling", []byte(ns))

	data := strings.Repeat("x", *size)
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(*count) {
					return
				}
				name := fmt.Sprintf("%s-%06d", *prefix, i)
				body, _ := json.Marshal(map[string]any{
					"apiVersion": "v1", "kind": "ConfigMap",
					"metadata": map[string]any{"name": name, "namespace": *namespace},
					"data":     map[string]string{"payload": data},
				})
				base := *server + "/api/v1/namespaces/" + *namespace + "/configmaps"
				var ok bool
				if *mode == "create" {
					ok = send(client, "POST", base, body)
				} else {
					ok = send(client, "PATCH", base+"/"+name+"?fieldManager=ceiling", body)
				}
				if !ok {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	out, _ := json.Marshal(map[string]any{"mode": *mode, "objects": *count, "failed": failed.Load(),
		"seconds": secs, "per_second": float64(*count) / secs, "workers": *workers})
	fmt.Println(string(out))
}

func send(c *http.Client, method, url string, body []byte) bool {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	die(err)
	if method == "PATCH" {
		req.Header.Set("Content-Type", "application/apply-patch+yaml")
	} else {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		fmt.Fprintln(os.Stderr, method, url, resp.Status)
		return false
	}
	return true
}

func die(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}
