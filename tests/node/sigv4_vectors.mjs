// SigV4 vectors for tests/unit/test_ddb_sigv4.c, signed by @smithy/signature-v4 (the signer
// of the AWS SDK for JavaScript v3). Prints one JSON object per line: the request exactly as
// the C signer gets it (headers include host, x-amz-date and, with a session token,
// x-amz-security-token), the header set smithy signed and the Authorization it produced.
//
// smithy is configured to sign exactly the headers given: applyChecksum: false (no
// x-amz-content-sha256), x-amz-date and x-amz-security-token come from signingDate and the
// credentials (it deletes/overwrites those itself), and no header of its always-unsignable list
// (user-agent, expect, ...) is used. The script exits non-zero if the header set smithy signed
// differs from the one given.
import { Sha256 } from "@aws-crypto/sha256-js";
import { SignatureV4 } from "@smithy/signature-v4";

const AKID = "AKIDEXAMPLE";
const SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SUITE_DATE = "20150830T123600Z";
const STS_TOKEN =
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoI" +
    "YRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5" +
    "VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC" +
    "9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

function suite(name, method, path, query, headers, body = "", token = "") {
    return { name, region: "us-east-1", service: "service", method, path, query, body,
             amz_date: SUITE_DATE, access_key: AKID, secret_key: SECRET, session_token: token,
             headers: [["Host", "example.amazonaws.com"], ...headers, ["X-Amz-Date", SUITE_DATE],
                       ...(token ? [["X-Amz-Security-Token", token]] : [])] };
}

function ddb(name, region, date, op, body, token = "", ak = "AKIAIOSFODNN7EXAMPLE",
             sk = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY") {
    const headers = [["Content-Type", "application/x-amz-json-1.0"],
                     ["Host", `dynamodb.${region}.amazonaws.com`], ["X-Amz-Date", date],
                     ["X-Amz-Target", `DynamoDB_20120810.${op}`]];
    if (token)
        headers.push(["X-Amz-Security-Token", token]);
    return { name, region, service: "dynamodb", method: "POST", path: "/", query: "", body,
             amz_date: date, access_key: ak, secret_key: sk, session_token: token, headers };
}

const put = JSON.stringify({ TableName: "keel-orders", Item: { order_id: { S: "o-1" },
    status: { S: "pending" }, total: { N: "12.50" }, note: { S: "caf\u00e9 \u2603" } },
    ConditionExpression: "attribute_not_exists(order_id)" });
const get = JSON.stringify({ TableName: "keel-orders", Key: { order_id: { S: "o-1" } },
                             ConsistentRead: true });

const vectors = [
    suite("post-vanilla", "POST", "/", "", []),
    suite("post-x-www-form-urlencoded", "POST", "/", "",
          [["Content-Type", "application/x-www-form-urlencoded"]], "Param1=value1"),
    suite("post-header-key-sort", "POST", "/", "", [["My-Header1", "value1"]]),
    suite("get-header-value-trim", "GET", "/", "",
          [["My-Header1", " value1"], ["My-Header2", ' "a   b   c"']]),
    suite("post-sts-header-before", "POST", "/", "", [], "", STS_TOKEN),
    suite("get-vanilla", "GET", "/", "", []),
    suite("get-vanilla-query-order-key-case", "GET", "/", "Param2=value2&Param1=value1", []),
    suite("get-vanilla-query-unreserved", "GET", "/",
          "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=" +
          "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", []),
    suite("get-space", "GET", "/example space/", "", []),
    suite("get-relative-relative", "GET", "/example1/example2/../..", "", []),
    suite("get-slashes", "GET", "//example//", "", []),
    suite("get-utf8", "GET", "/\u1234", "", []),
    suite("get-query-dup-keys", "GET", "/a/./b", "b=2&a=z&a=y&c", []),
    suite("post-header-tabs-and-case", "POST", "/", "",
          [["MY-header3", "\t  x \t y  "], ["my-Header4", "z"]], "{}"),
    ddb("ddb-put-us-east-1", "us-east-1", "20261122T063000Z", "PutItem", put),
    ddb("ddb-put-token-eu-west-1", "eu-west-1", "20261122T235959Z", "PutItem", put,
        "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+example+token=="),
    ddb("ddb-get-ap-southeast-2", "ap-southeast-2", "20261123T000001Z", "GetItem", get),
    ddb("ddb-get-token-us-west-2", "us-west-2", "20240229T120000Z", "GetItem", get,
        "FwoGZXIvYXdzEXAMPLEtoken/with+slash==", "ASIAEXAMPLEKEY12345",
        "9drTJvcXLB89EXAMPLELB8923FB892xMFI"),
    ddb("ddb-describe-empty-body", "us-east-1", "20261122T063000Z", "DescribeTable",
        JSON.stringify({ TableName: "keel-orders" })),
];

function parseQuery(raw) {
    const q = {};
    for (const part of raw.split("&")) {
        if (part === "")
            continue;
        const eq = part.indexOf("=");
        const k = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
        const v = eq < 0 ? "" : decodeURIComponent(part.slice(eq + 1));
        if (k in q)
            q[k] = [].concat(q[k], v);
        else
            q[k] = v;
    }
    return q;
}

function toDate(amz) {
    const m = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(amz);
    return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

let failed = false;
for (const v of vectors) {
    const signer = new SignatureV4({
        credentials: { accessKeyId: v.access_key, secretAccessKey: v.secret_key,
                       ...(v.session_token ? { sessionToken: v.session_token } : {}) },
        region: v.region, service: v.service, sha256: Sha256, applyChecksum: false,
        uriEscapePath: true,
    });
    const headers = {};
    for (const [n, val] of v.headers) {
        const l = n.toLowerCase();
        if (l === "x-amz-date" || l === "x-amz-security-token")
            continue; // smithy sets these from signingDate and the credentials
        headers[n] = val;
    }
    const signed = await signer.sign({ method: v.method, protocol: "https:",
        hostname: headers.Host ?? headers.host, path: v.path, query: parseQuery(v.query),
        headers, body: v.body === "" ? undefined : v.body },
        { signingDate: toDate(v.amz_date) });
    const auth = signed.headers.authorization;
    const sh = /SignedHeaders=([^,]*)/.exec(auth)[1];
    const want = [...new Set(v.headers.map(([n]) => n.toLowerCase()))].sort().join(";");
    if (sh !== want) {
        console.error(`${v.name}: smithy signed ${sh}, expected ${want}`);
        failed = true;
    }
    process.stdout.write(JSON.stringify({ ...v, signed_headers: sh,
        smithy_request_headers: Object.keys(signed.headers).sort(), authorization: auth }) +
        "\n");
}
process.exit(failed ? 1 : 0);
