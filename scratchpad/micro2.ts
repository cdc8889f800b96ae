import { Effect, Exit, Layer, Metric, Scope } from "effect"
import * as Admission from "../src/Admission.js"
import * as AdmissionStore from "../src/AdmissionStore.js"
import * as RateLimitState from "../src/RateLimitState.js"

const n = 50_000
const time = (name: string, f: () => Effect.Effect<unknown, unknown>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 5000; i++) yield* f()
    const start = process.cpuUsage()
    for (let i = 0; i < n; i++) yield* f()
    const used = process.cpuUsage(start)
    console.log(`${name.padEnd(40)} ${((used.user + used.system) / n).toFixed(2)} µs`)
  })
const hist = Metric.histogram("x", { _tag: "MetricBoundaries", values: [1, 2, 4] } as any)
Effect.runPromise(
  Effect.gen(function*() {
    const admission = yield* Admission.Admission
    const store = yield* AdmissionStore.makeMemory()
    yield* store.configure("q", { requests: 1e9 })
    yield* time("Effect.void", () => Effect.void)
    yield* time("Effect.scoped(void)", () => Effect.scoped(Effect.void))
    yield* time("uninterruptibleMask(void)", () => Effect.uninterruptibleMask(() => Effect.void))
    yield* time("clockWith", () => Effect.clockWith((c) => Effect.succeed(c.unsafeCurrentTimeMillis())))
    yield* time("addFinalizer in scoped", () => Effect.scoped(Effect.addFinalizer(() => Effect.void)))
    yield* time("ledger reserve+release", () =>
      Effect.sync(() => {
        const r = store.unsafe!.reserve("q", { cost: { requests: 1 }, holdBack: 0, maxInFlight: 100 }, Date.now())
        if (r._tag === "Granted") {
          store.unsafe!.release(r.lease, { charged: {}, observation: undefined, outputTokens: undefined }, Date.now())
        }
      }))
    yield* time("histogram update", () => Metric.update(hist, 0))
    yield* time("admit only (scoped)", () => Effect.scoped(admission.admit({ pool: "p", cost: { requests: 1 } })))
    yield* time(
      "admit+complete(NotSent)",
      () =>
        Effect.scoped(
          Effect.flatMap(admission.admit({ pool: "p", cost: { requests: 1 } }), (t) =>
            t.complete(Admission.Outcome.NotSent()))
        )
    )
  }).pipe(
    Effect.provide(
      Admission.layer({
        limits: { p: { requestsPerMinute: 1e9, inputTokensPerMinute: 1e12, outputTokensPerMinute: 1e12 } }
      }).pipe(Layer.provideMerge(RateLimitState.layer))
    ),
    Effect.scoped
  )
)
void Exit
void Scope
