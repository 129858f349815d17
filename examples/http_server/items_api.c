/* A JSON API whose handlers await a database, as a FastAPI app does:
 *
 *   @app.get("/items/")
 *   async def get_items():
 *       data = await fetch_from_db()
 *       return data
 *
 * Each request runs in a task, so while one handler waits for the
 * database the server goes on serving others.  The database is SQLite
 * (in memory, filled at start), reached through fetch_from_db() and its
 * two siblings only.
 *
 *   items_api [PORT]          (default 8000; 0 picks a free port)
 *
 *   curl http://127.0.0.1:8000/items/
 *   curl http://127.0.0.1:8000/items/2
 *   curl -d '{"name": "lamp", "price": 12.5}' http://127.0.0.1:8000/items/
 *
 * Ctrl-C (SIGINT) or SIGTERM shuts down gracefully: no new connections,
 * requests in flight finish (up to 10 seconds), then the program exits.
 */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "casyncio.h"
#include "casyncio/config.h"
#include "casyncio/http_server.h"
#if CIO_HAVE_SQLITE
#include "casyncio/db.h"
#endif

/* ---- the database ------------------------------------------------------ */

/* fetch_from_db() and its two siblings are the only code that knows where
 * items live.  With the SQLite battery they are real queries on an
 * in-memory SQLite database: each runs on the connection's own thread
 * while the handler awaits it and the loop serves other requests.  A
 * build without SQLite keeps the table in memory behind a simulated
 * 50 ms round trip, awaited the same way. */

#if CIO_HAVE_SQLITE
static cio_sqlite *db;

static int open_db(void) {
  char err[256];
  int rc = cio_sqlite_open(&db, ":memory:", NULL, err, sizeof err);
  if (rc < 0) {
    fprintf(stderr, "items_api: %s\n", err);
    return rc;
  }
  return cio_sqlite_exec_script(
      db,
      "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
      "                    price REAL NOT NULL);"
      "INSERT INTO items (name, price) VALUES ('apple', 0.5),"
      "                  ('bread', 2.25), ('coffee', 7.0)",
      NULL);
}

static void close_db(void) {
  (void)!cio_sqlite_close(db); /* waits for queued statements: none */
}

static json_t *row_json(cio_db_result *r, size_t row) {
  int64_t id;
  double price;
  cio_db_result_int(r, row, 0, &id);
  cio_db_result_float(r, row, 2, &price);
  return json_pack("{s:I, s:s, s:f}", "id", (json_int_t)id, "name",
                   cio_db_result_text(r, row, 1, NULL), "price", price);
}

/* SELECT * FROM items: a new JSON array in *out. */
static int fetch_from_db(json_t **out) {
  cio_db_result *r;
  int rc = cio_sqlite_query(db, "SELECT id, name, price FROM items "
                                "ORDER BY id", NULL, 0, &r);
  if (rc < 0)
    return rc;
  *out = json_array();
  for (size_t i = 0; i < cio_db_result_nrows(r); i++)
    json_array_append_new(*out, row_json(r, i));
  cio_db_result_free(r);
  return 0;
}

/* SELECT ... WHERE id = ?: CIO_ENOENT when there is none. */
static int fetch_item_from_db(int id, json_t **out) {
  cio_db_result *r;
  cio_db_value v = cio_db_int(id);
  int rc = cio_sqlite_query(db, "SELECT id, name, price FROM items "
                                "WHERE id = ?", &v, 1, &r);
  if (rc < 0)
    return rc;
  rc = cio_db_result_nrows(r) == 0 ? CIO_ENOENT : 0;
  if (rc == 0)
    *out = row_json(r, 0);
  cio_db_result_free(r);
  return rc;
}

/* INSERT INTO items: the new row as JSON. */
static int insert_into_db(const char *name, double price, json_t **out) {
  cio_db_result *r;
  cio_db_value v[2] = {cio_db_text(name), cio_db_float(price)};
  int rc = cio_sqlite_query(db, "INSERT INTO items (name, price) "
                                "VALUES (?, ?)", v, 2, &r);
  if (rc < 0)
    return rc;
  int64_t id = cio_db_result_last_insert_id(r);
  cio_db_result_free(r);
  *out = json_pack("{s:I, s:s, s:f}", "id", (json_int_t)id, "name", name,
                   "price", price);
  return 0;
}

#else /* no SQLite in this build: a table in memory */

#define DB_LATENCY 0.05 /* seconds per query */
#define MAX_ITEMS 100

struct item {
  int id;
  char name[64];
  double price;
};

static struct item table[MAX_ITEMS] = {
    {1, "apple", 0.5}, {2, "bread", 2.25}, {3, "coffee", 7.0}};
static int nitems = 3;

static int open_db(void) {
  return 0;
}

static void close_db(void) {
}

static json_t *item_json(const struct item *it) {
  return json_pack("{s:i, s:s, s:f}", "id", it->id, "name", it->name,
                   "price", it->price);
}

static int fetch_from_db(json_t **out) {
  int rc = cio_sleep(DB_LATENCY); /* the query's round trip */
  if (rc < 0)
    return rc;
  *out = json_array();
  for (int i = 0; i < nitems; i++)
    json_array_append_new(*out, item_json(&table[i]));
  return 0;
}

static int fetch_item_from_db(int id, json_t **out) {
  int rc = cio_sleep(DB_LATENCY);
  if (rc < 0)
    return rc;
  for (int i = 0; i < nitems; i++)
    if (table[i].id == id) {
      *out = item_json(&table[i]);
      return 0;
    }
  return CIO_ENOENT;
}

static int insert_into_db(const char *name, double price, json_t **out) {
  int rc = cio_sleep(DB_LATENCY);
  if (rc < 0)
    return rc;
  if (nitems == MAX_ITEMS)
    return CIO_ENOSPC;
  struct item *it = &table[nitems];
  it->id = table[nitems - 1].id + 1;
  snprintf(it->name, sizeof it->name, "%s", name);
  it->price = price;
  nitems++;
  *out = item_json(it);
  return 0;
}
#endif

/* ---- handlers ------------------------------------------------------------ */

/* GET /items/ */
static int get_items(cio_web_request *req, cio_web_response *res,
                     void *arg) {
  (void)req;
  (void)arg;
  json_t *data;
  int rc = fetch_from_db(&data);
  if (rc < 0)
    return rc; /* the client gets 500; the server logs the error */
  rc = cio_web_response_set_json(res, 200, data);
  json_decref(data);
  return rc;
}

static int error_json(cio_web_response *res, int status, const char *text) {
  json_t *body = json_pack("{s:s}", "detail", text);
  int rc = cio_web_response_set_json(res, status, body);
  json_decref(body);
  return rc;
}

/* GET /items/{id} */
static int get_item(cio_web_request *req, cio_web_response *res,
                    void *arg) {
  (void)arg;
  char *end;
  long id = strtol(cio_web_request_param(req, "id"), &end, 10);
  if (*end != '\0' || id <= 0)
    return error_json(res, 422, "id must be a positive integer");
  json_t *item;
  int rc = fetch_item_from_db((int)id, &item);
  if (rc == CIO_ENOENT)
    return error_json(res, 404, "Item not found");
  if (rc < 0)
    return rc;
  rc = cio_web_response_set_json(res, 200, item);
  json_decref(item);
  return rc;
}

/* POST /items/ with {"name": ..., "price": ...} */
static int create_item(cio_web_request *req, cio_web_response *res,
                       void *arg) {
  (void)arg;
  json_t *body;
  const char *name;
  double price;
  if (cio_web_request_json(req, &body) < 0)
    return error_json(res, 400, "the body must be JSON");
  int ok = json_unpack(body, "{s:s, s:F}", "name", &name, "price", &price);
  json_t *item = NULL;
  int rc = ok == 0 ? insert_into_db(name, price, &item) : 0;
  json_decref(body);
  if (ok != 0)
    return error_json(res, 422, "expected {\"name\": string, \"price\": number}");
  if (rc == CIO_ENOSPC)
    return error_json(res, 507, "the table is full");
  if (rc < 0)
    return rc;
  rc = cio_web_response_set_json(res, 201, item);
  json_decref(item);
  return rc;
}

/* ---- main ------------------------------------------------------------ */

static void on_signal(void *arg) {
  cio_event_set(arg);
}

/* The routes, and SIGINT/SIGTERM setting `stop`. */
static int set_up(cio_web_app *app, cio_event *stop) {
  int rc = cio_web_app_route(app, "GET", "/items/", get_items, NULL);
  if (rc == 0)
    rc = cio_web_app_route(app, "POST", "/items/", create_item, NULL);
  if (rc == 0)
    rc = cio_web_app_route(app, "GET", "/items/{id}", get_item, NULL);
  if (rc == 0)
    rc = cio_loop_add_signal_handler(NULL, SIGINT, on_signal, stop);
  if (rc == 0)
    rc = cio_loop_add_signal_handler(NULL, SIGTERM, on_signal, stop);
  return rc;
}

/* Serve until a signal, then shut down gracefully. */
static int run_server(cio_web_app *app, int port, cio_event *stop) {
  cio_web_server *srv;
  int rc = cio_web_server_open(&srv, app, "127.0.0.1", port, NULL);
  if (rc < 0) {
    fprintf(stderr, "items_api: port %d: %s\n", port, cio_strerror(rc));
    return rc;
  }
  printf("listening on http://127.0.0.1:%d\n", cio_web_server_port(srv));
  fflush(stdout);
  rc = cio_event_wait(stop); /* CIO_ECANCELED: stopped some other way */
  printf("shutting down\n");
  fflush(stdout);
  if (cio_web_server_shutdown(srv, 10.0) == CIO_ETIMEDOUT)
    printf("requests still running after 10 s were cancelled\n");
  (void)!cio_web_server_close(srv); /* shut down already */
  return rc;
}

static int serve(void *arg, void **result) {
  (void)result;
  int rc = open_db();
  if (rc < 0)
    return rc;
  cio_web_app *app = NULL;
  cio_event *stop = NULL;
  rc = cio_web_app_new(&app);
  if (rc == 0)
    rc = cio_event_new(&stop);
  if (rc == 0)
    rc = set_up(app, stop);
  if (rc == 0)
    rc = run_server(app, *(int *)arg, stop);
  else
    fprintf(stderr, "items_api: %s\n", cio_strerror(rc));
  cio_loop_remove_signal_handler(NULL, SIGINT);
  cio_loop_remove_signal_handler(NULL, SIGTERM);
  cio_event_free(stop);
  cio_web_app_free(app);
  close_db();
  if (rc == 0)
    printf("bye\n");
  return rc;
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 8000;
  return cio_run(serve, &port) == 0 ? 0 : 1;
}
