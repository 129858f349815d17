// HTTP server on Go's net/http, the two routes of
// bench/suites/http_server.py:
//
//	http PORT
//
// GET / answers "Hello, World!" as text/plain; GET /json encodes
// {"message":"Hello, World!"} with encoding/json for every request.
package main

import (
	"encoding/json"
	"net/http"
	"os"
)

type message struct {
	Message string `json:"message"`
}

func main() {
	port := "8080"
	if len(os.Args) > 1 {
		port = os.Args[1]
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("Hello, World!"))
	})
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		body, _ := json.Marshal(message{"Hello, World!"})
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	if err := http.ListenAndServe("127.0.0.1:"+port, mux); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
}
