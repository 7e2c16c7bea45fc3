// A SCIM 2.0 service provider for idsync's tests: SCIMMY (the RFC 7643/7644
// engine) and scimmy-routers on express, over an in-memory store.
//
//   node server.js --port 0 --token secret [--max-page-size 20] [--exit-on-stdin-close]
//       [--latency MS[..MAX]] [--list-latency MS[..MAX]] [--refuse-filter PATH,…]
//       [--refuse-as invalidFilter|invalidValue|plain] [--throttle-rate R]
//       [--retry-after SECONDS] [--error-rate R]
//
// Options may also come from the environment: SCIM_PORT, SCIM_TOKEN,
// SCIM_MAX_PAGE_SIZE. Port 0 picks a free port. Once listening it prints one
// line on stdout:
//
//   listening http://127.0.0.1:PORT/scim/v2
//
// Every request must carry "Authorization: Bearer <token>" (401 with a SCIM
// error otherwise). GET /_stats (same auth) returns the number of SCIM
// requests served, by method, by "METHOD /ResourceType" and by status;
// DELETE /_stats resets them. The stats also count what the knobs did:
// refused filters by path, throttled (429) and failed (500/503) answers,
// and requests abandoned by the client while they waited out a latency.
//
// Knobs (see knobs.js) make the server slow and imperfect on purpose: the
// flags above set them at start, PUT /_knobs (same auth, a JSON object,
// which replaces all knobs; {} turns them all off) changes them at run
// time, GET /_knobs shows them. Without any, the server behaves as before.
//
// Paging: like many real service providers, this one caps a page at
// --max-page-size resources (20, SCIMMY's default page) whatever "count"
// asks for, and reports the requested count as itemsPerPage on the last,
// shorter page, as SCIMMY does: clients must page by startIndex and
// totalResults, not trust itemsPerPage.

import {parseArgs} from "node:util";
import express from "express";
import SCIMMY from "scimmy";
import SCIMMYRouters from "scimmy-routers";
import {parseFilter} from "./filter.js";
import {Faults, parseKnobs, parseRange} from "./knobs.js";
import {Store} from "./store.js";

const basePath = "/scim/v2";

function options() {
    const {values} = parseArgs({
        options: {
            port: {type: "string"},
            token: {type: "string"},
            "max-page-size": {type: "string"},
            "exit-on-stdin-close": {type: "boolean", default: false},
            "latency": {type: "string"},
            "list-latency": {type: "string"},
            "refuse-filter": {type: "string", multiple: true},
            "refuse-as": {type: "string"},
            "throttle-rate": {type: "string"},
            "retry-after": {type: "string"},
            "error-rate": {type: "string"},
        },
    });
    const port = Number(values.port ?? process.env.SCIM_PORT ?? 0);
    const token = values.token ?? process.env.SCIM_TOKEN ?? "";
    const maxPageSize = Number(values["max-page-size"] ?? process.env.SCIM_MAX_PAGE_SIZE ?? 20);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid port ${values.port ?? process.env.SCIM_PORT}`);
    if (!token) throw new Error("a bearer token is required: --token or SCIM_TOKEN");
    if (!Number.isInteger(maxPageSize) || maxPageSize < 1) throw new Error("--max-page-size must be a positive integer");
    return {port, token, maxPageSize, exitOnStdinClose: values["exit-on-stdin-close"], knobs: knobsFromFlags(values)};
}

// knobsFromFlags turns the knob flags into knobs, validated as PUT
// /_knobs validates them.
function knobsFromFlags(values) {
    const k = {};
    if (values.latency !== undefined) [k.latencyMs, k.latencyMaxMs] = parseRange(values.latency);
    if (values["list-latency"] !== undefined) [k.listLatencyMs, k.listLatencyMaxMs] = parseRange(values["list-latency"]);
    if (values["refuse-filter"] !== undefined) {
        k.refuseFilters = values["refuse-filter"].flatMap(v => v.split(",")).map(p => p.trim()).filter(Boolean);
    }
    if (values["refuse-as"] !== undefined) k.refuseAs = values["refuse-as"];
    const number = (flag, key) => {
        if (values[flag] === undefined) return;
        k[key] = Number(values[flag]);
        if (values[flag].trim() === "" || Number.isNaN(k[key])) throw new Error(`--${flag}: ${JSON.stringify(values[flag])} is not a number`);
    };
    number("throttle-rate", "throttleRate");
    number("retry-after", "retryAfterSeconds");
    number("error-rate", "errorRate");
    return parseKnobs(k);
}

function scimError(res, status, detail, scimType) {
    res.status(status).type("application/scim+json").send(JSON.stringify(
        new SCIMMY.Messages.Error({status, detail, ...(scimType ? {scimType} : {})})));
}

// Stats counts the SCIM requests served, for tests and benchmarks that
// must know how many requests reached the target.
class Stats {
    constructor() {
        this.reset();
    }

    reset() {
        this.total = 0;
        this.byMethod = {};
        this.byRoute = {};
        this.byStatus = {};
        this.refusedFilters = {};
        this.injected = {throttled: 0, failed: 0, abandoned: 0};
    }

    // count counts one answer the knobs made: throttled, failed or
    // abandoned.
    count(what) {
        this.injected[what]++;
    }

    // refuse counts one filter refused for naming path.
    refuse(path) {
        this.refusedFilters[path] = (this.refusedFilters[path] ?? 0) + 1;
    }

    middleware = (req, res, next) => {
        const resourceType = req.path.split("/")[1] || "";
        const route = `${req.method} /${resourceType}`;
        this.total++;
        this.byMethod[req.method] = (this.byMethod[req.method] ?? 0) + 1;
        this.byRoute[route] = (this.byRoute[route] ?? 0) + 1;
        res.on("finish", () => {
            this.byStatus[res.statusCode] = (this.byStatus[res.statusCode] ?? 0) + 1;
        });
        next();
    };

    toJSON() {
        return {
            total: this.total, byMethod: this.byMethod, byRoute: this.byRoute, byStatus: this.byStatus,
            refusedFilters: this.refusedFilters, ...this.injected,
        };
    }
}

// authenticate requires the bearer token, answering 401 with a SCIM error.
function authenticate(token) {
    const expected = `Bearer ${token}`;
    return (req, res, next) => {
        if (req.get("Authorization") === expected) return next();
        res.set("WWW-Authenticate", 'Bearer realm="scim"');
        scimError(res, 401, req.get("Authorization") ? "Invalid bearer token" : "Missing bearer token");
    };
}

// prepareQuery works around two things before SCIMMY sees the request:
//   - express 5 re-parses req.query on every read, so scimmy-routers'
//     cast of startIndex and count to numbers is lost and SCIMMY ignores
//     both; the query is parsed once and pinned here;
//   - SCIMMY's filter parser cannot read escaped quotes, keeps backslash
//     escapes, and compares case-sensitively (see filter.js): the filter
//     is parsed here and handed to the store through the context.
function prepareQuery(maxPageSize) {
    return (req, res, next) => {
        const query = {...req.query};
        Object.defineProperty(req, "query", {value: query, writable: true, configurable: true, enumerable: true});
        const count = Number(query.count);
        if (query.count !== undefined && Number.isInteger(count)) {
            query.count = String(Math.min(Math.max(count, 0), maxPageSize));
        } else if (req.method === "GET" && /^\/(Users|Groups)\/?$/.test(req.path)) {
            // Only on lists: SCIMMY refuses paging parameters elsewhere.
            query.count = String(maxPageSize);
        }
        if (req.method === "GET" && query.filter !== undefined) {
            try {
                req.scimFilter = parseFilter(query.filter);
            } catch (ex) {
                return scimError(res, ex.status ?? 400, ex.message, ex.scimType ?? "invalidFilter");
            }
            delete query.filter;
        }
        // SCIMMY pages a list it is given whole, except past its end, where
        // it returns the first page again: a page past the end is empty.
        const send = res.send.bind(res);
        res.send = (body) => {
            if (body instanceof SCIMMY.Messages.ListResponse && body.startIndex > body.totalResults) body.Resources = [];
            return send(body);
        };
        next();
    };
}

function main() {
    let opts;
    try {
        opts = options();
    } catch (ex) {
        console.error(`scim-server: ${ex.message}`);
        process.exit(2);
    }

    const store = new Store();
    SCIMMY.Resources.declare(SCIMMY.Resources.User.extend(SCIMMY.Schemas.EnterpriseUser, false), {
        ingress: store.userIngress, egress: store.userEgress, degress: store.userDegress,
    });
    SCIMMY.Resources.declare(SCIMMY.Resources.Group, {
        ingress: store.groupIngress, egress: store.groupEgress, degress: store.groupDegress,
    });

    const stats = new Stats();
    const auth = authenticate(opts.token);
    const app = express();
    app.disable("x-powered-by");
    app.get("/_stats", auth, (req, res) => res.json(stats));
    app.delete("/_stats", auth, (req, res) => {
        stats.reset();
        res.status(204).end();
    });
    const faults = new Faults(opts.knobs, stats);
    store.keepMembersOfDeleted = () => faults.knobs.keepMembersOfDeleted;
    app.get("/_knobs", auth, (req, res) => res.json(faults.knobs));
    app.put("/_knobs", auth, express.json({type: () => true}), (req, res) => {
        try {
            faults.set(parseKnobs(req.body));
        } catch (ex) {
            return scimError(res, 400, `knobs: ${ex.message}`, "invalidValue");
        }
        console.error(`scim-server: knobs ${JSON.stringify(faults.knobs)}`);
        res.json(faults.knobs);
    });
    app.use(basePath, stats.middleware, auth, faults.middleware, prepareQuery(opts.maxPageSize), new SCIMMYRouters({
        type: "bearer",
        docUri: "https://datatracker.ietf.org/doc/html/rfc6750",
        handler: () => "idsync-test", // authenticate has already checked the token
        context: (req) => ({filter: req.scimFilter}),
    }));
    // SCIMMYRouters sets the service provider config; add the paging limit.
    SCIMMY.Config.set("filter", {supported: true, maxResults: opts.maxPageSize});
    SCIMMY.Config.set("bulk", {supported: false});

    const server = app.listen(opts.port, "127.0.0.1", () => {
        const {port} = server.address();
        process.stdout.write(`listening http://127.0.0.1:${port}${basePath}\n`);
    });
    server.on("error", (err) => {
        console.error(`scim-server: ${err.message}`);
        process.exit(1);
    });
    const stop = () => {
        server.close(() => process.exit(0));
        server.closeAllConnections();
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
    if (opts.exitOnStdinClose) {
        // The parent holds our stdin open: when it dies, so do we.
        process.stdin.on("end", stop);
        process.stdin.on("close", stop);
        process.stdin.resume();
    }
}

main();
