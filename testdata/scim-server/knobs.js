// Knobs that make this peer behave like a slow, imperfect production
// service provider: latency, refused filter forms, throttling and errors.
// Real targets take seconds per page, refuse some filter forms, throttle
// and fail now and then; a client tested only against a fast, perfect
// server learns none of that.
//
// Knobs (JSON, as PUT /_knobs takes them and GET /_knobs returns them;
// a key left out has its default, which is "off"):
//
//   latencyMs, latencyMaxMs          every request waits latencyMs, or a
//                                    random time in [latencyMs, latencyMaxMs]
//                                    when latencyMaxMs is larger
//   listLatencyMs, listLatencyMaxMs  extra wait for a list or search (GET on
//                                    /Users or /Groups), the same way
//   refuseFilters                    attribute paths, e.g. ["emails.value",
//                                    "userName"]: a filter naming one of them
//                                    is refused with a 400
//   refuseAs                         how: "invalidFilter" (the default) or
//                                    "invalidValue" (a SCIM error with that
//                                    scimType), or "plain" (a 400 whose body
//                                    is not a SCIM error)
//   throttleRate                     share of requests answered 429 with
//                                    Retry-After: retryAfterSeconds (1)
//   errorRate                        share answered 500 or 503 (half each)
//
// A filter "names" the path of each comparison in it, with the prefix of an
// enclosing value path: emails[value eq "x"] names "emails" and
// "emails.value"; emails.value eq "x" names only "emails.value"; emails eq
// "x" names only "emails".

import {parseFilter} from "./filter.js";

const refuseStyles = new Set(["invalidFilter", "invalidValue", "plain"]);

const defaults = Object.freeze({
    latencyMs: 0,
    latencyMaxMs: 0,
    listLatencyMs: 0,
    listLatencyMaxMs: 0,
    refuseFilters: [],
    refuseAs: "invalidFilter",
    throttleRate: 0,
    retryAfterSeconds: 1,
    errorRate: 0,
    // keepMembersOfDeleted: a deleted user stays listed, by its old id, in
    // the groups it was in, as some services leave it.
    keepMembersOfDeleted: false,
});

// parseKnobs validates knobs given as an object (from JSON or the command
// line) and fills in the defaults. Unknown keys are refused, so that a
// misspelt knob does not silently stay off.
export function parseKnobs(input) {
    if (input === null || typeof input !== "object" || Array.isArray(input)) throw new Error("knobs must be a JSON object");
    const k = {...defaults, refuseFilters: []};
    for (const [key, value] of Object.entries(input)) {
        if (!(key in defaults)) throw new Error(`unknown knob ${JSON.stringify(key)}`);
        k[key] = value;
    }
    for (const key of ["latencyMs", "latencyMaxMs", "listLatencyMs", "listLatencyMaxMs", "retryAfterSeconds"]) {
        if (!Number.isInteger(k[key]) || k[key] < 0) throw new Error(`${key} must be a non-negative integer`);
    }
    for (const [min, max] of [["latencyMs", "latencyMaxMs"], ["listLatencyMs", "listLatencyMaxMs"]]) {
        if (k[max] !== 0 && k[max] < k[min]) throw new Error(`${max} must be 0 or at least ${min}`);
    }
    for (const key of ["throttleRate", "errorRate"]) {
        if (typeof k[key] !== "number" || !(k[key] >= 0 && k[key] <= 1)) throw new Error(`${key} must be a number between 0 and 1`);
    }
    if (!Array.isArray(k.refuseFilters) || !k.refuseFilters.every(p => typeof p === "string" && p.trim() !== "")) {
        throw new Error("refuseFilters must be a list of attribute paths");
    }
    k.refuseFilters = k.refuseFilters.map(p => p.trim());
    if (typeof k.keepMembersOfDeleted !== "boolean") throw new Error("keepMembersOfDeleted must be true or false");
    if (!refuseStyles.has(k.refuseAs)) throw new Error(`refuseAs must be one of ${[...refuseStyles].join(", ")}`);
    return k;
}

// parseRange reads "MS" or "MIN..MAX" (milliseconds) from the command line.
export function parseRange(s) {
    const m = /^\s*(\d+)\s*(?:\.\.\s*(\d+)\s*)?$/.exec(s);
    if (!m) throw new Error(`${JSON.stringify(s)} is not MS or MIN..MAX in milliseconds`);
    const min = Number(m[1]);
    const max = m[2] === undefined ? 0 : Number(m[2]);
    if (m[2] !== undefined && max < min) throw new Error(`${JSON.stringify(s)}: MAX is less than MIN`);
    return [min, max];
}

// pick returns min, or a random integer in [min, max] when max > min.
function pick(min, max) {
    return max > min ? min + Math.floor(Math.random() * (max - min + 1)) : min;
}

// normalize lowers a path and drops the core schema URN, which prefixes
// core attributes (urn:…:core:2.0:User:userName is userName).
function normalize(path) {
    const lower = path.toLowerCase();
    return lower.startsWith("urn:ietf:params:scim:schemas:core:2.0:") ? lower.slice(lower.lastIndexOf(":") + 1) : lower;
}

// namedPaths returns the attribute paths a parsed filter names.
export function namedPaths(tree, prefix = "") {
    switch (tree.type) {
        case "or":
        case "and": return [...namedPaths(tree.left, prefix), ...namedPaths(tree.right, prefix)];
        case "not": return namedPaths(tree.expr, prefix);
        case "valuePath": {
            const full = prefix + tree.path;
            return [normalize(full), ...namedPaths(tree.expr, full + ".")];
        }
        case "pr":
        case "cmp": return [normalize(prefix + tree.path)];
        default: return [];
    }
}

const isList = (req) => req.method === "GET" && /^\/(Users|Groups)\/?$/.test(req.path);

// Faults holds the current knobs and applies them to each SCIM request.
export class Faults {
    constructor(knobs, stats) {
        this.knobs = knobs;
        this.stats = stats;
    }

    // send writes a SCIM error (RFC 7644 §3.12). It is built here, not by
    // SCIMMY, whose Error message refuses statuses such as 429 and 503.
    send(res, status, detail, scimType) {
        const body = {schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"], status: String(status), detail};
        if (scimType) body.scimType = scimType;
        res.status(status).type("application/scim+json").send(JSON.stringify(body));
    }

    set(knobs) {
        this.knobs = knobs;
    }

    middleware = (req, res, next) => {
        const k = this.knobs; // the knobs at the request's arrival apply to all of it
        let delay = pick(k.latencyMs, k.latencyMaxMs);
        if (isList(req)) delay += pick(k.listLatencyMs, k.listLatencyMaxMs);
        if (delay === 0) return this.inject(k, req, res, next);
        // A client that gives up while it waits gets nothing written: the
        // timer is cleared and the request counted as abandoned.
        const timer = setTimeout(() => {
            res.off("close", abandon);
            this.inject(k, req, res, next);
        }, delay);
        const abandon = () => {
            clearTimeout(timer);
            this.stats.count("abandoned");
        };
        res.once("close", abandon);
    };

    // inject answers with a throttle, an error or a refused filter as the
    // knobs say, else passes the request on.
    inject(k, req, res, next) {
        if (k.throttleRate > 0 && Math.random() < k.throttleRate) {
            this.stats.count("throttled");
            res.set("Retry-After", String(k.retryAfterSeconds));
            return this.send(res, 429, "Too many requests; retry later (injected by the throttleRate knob)");
        }
        if (k.errorRate > 0 && Math.random() < k.errorRate) {
            this.stats.count("failed");
            const status = Math.random() < 0.5 ? 500 : 503;
            return this.send(res, status, `Injected failure (errorRate knob)`);
        }
        const refused = this.refusedPath(k, req);
        if (refused) {
            this.stats.refuse(refused);
            if (k.refuseAs === "plain") return res.status(400).type("text/plain").send("Bad Request: unsupported filter");
            return this.send(res, 400, `Filtering on ${JSON.stringify(refused)} is not supported`, k.refuseAs);
        }
        next();
    }

    // refusedPath returns the refused path the request's filter names, if
    // any. A filter that does not parse is left to the normal handling.
    refusedPath(k, req) {
        const filter = req.query?.filter;
        if (k.refuseFilters.length === 0 || typeof filter !== "string") return null;
        let paths;
        try {
            paths = namedPaths(parseFilter(filter));
        } catch {
            return null;
        }
        return k.refuseFilters.find(p => paths.includes(normalize(p))) ?? null;
    }
}
