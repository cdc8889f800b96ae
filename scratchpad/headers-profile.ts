import * as Headers from "@effect/platform/Headers"
import { DateTime } from "effect"
import * as RateLimitHeaders from "../src/RateLimitHeaders.js"
const now = DateTime.unsafeMake("2026-11-22T10:00:00Z")
const headers = Headers.fromInput({ "content-type": "application/json" })
for (let i = 0; i < 300_000; i++) RateLimitHeaders.decodeAt(headers, now)
