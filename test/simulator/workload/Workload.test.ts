import { describe, expect, it } from "@effect/vitest"
import { Effect, Random } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import * as Distribution from "../../../src/simulator/workload/Distribution.js"
import * as Scenario from "../../../src/simulator/workload/Scenario.js"
import * as Workload from "../../../src/simulator/workload/Workload.js"

const scenario = (lane: Partial<Scenario.Lane>, seed = 1): Scenario.Scenario => ({
  name: "test",
  seed,
  model: "claude-sonnet-4-6",
  simulator: {},
  lanes: [{
    name: "main",
    lane: "interactive",
    concurrency: 1,
    promptTokens: 100,
    maxTokens: 100,
    requests: 200,
    ...lane
  }]
})

describe("workload sizes", () => {
  it.effect("uniform: every value in [min, max] reached, the same for the same seed", () =>
    Effect.gen(function*() {
      const shapes = yield* Workload.shapes(
        scenario({ promptTokens: Distribution.uniform(10, 20), maxTokens: Distribution.uniform(100, 300) })
      )
      const prompts = shapes.map((shape) => shape.promptTokens)
      expect(Math.min(...prompts)).toBe(10)
      expect(Math.max(...prompts)).toBe(20)
      expect(new Set(shapes.map((shape) => shape.maxTokens)).size).toBeGreaterThan(50)
      expect(yield* Workload.shapes(scenario({ promptTokens: Distribution.uniform(10, 20) }))).not.toEqual(shapes)
      const again = yield* Workload.shapes(
        scenario({ promptTokens: Distribution.uniform(10, 20), maxTokens: Distribution.uniform(100, 300) })
      )
      expect(again).toEqual(shapes)
      const other = yield* Workload.shapes(
        scenario({ promptTokens: Distribution.uniform(10, 20), maxTokens: Distribution.uniform(100, 300) }, 2)
      )
      expect(other).not.toEqual(shapes)
    }))

  it.effect("lognormal: the median is the median, with the long tail real prompts have", () =>
    Effect.gen(function*() {
      const rng = Random.make(7)
      const draws = yield* Effect.forEach(
        Array.from({ length: 2_001 }),
        () => Distribution.draw(rng, Distribution.lognormal(400, 0.8))
      )
      const sorted = [...draws].sort((a, b) => a - b)
      expect(sorted[1_000]).toBeGreaterThan(360)
      expect(sorted[1_000]).toBeLessThan(440)
      // e^(0.8 × 1.645) ≈ 3.7: the 95th percentile near 1,490
      expect(sorted[1_900]).toBeGreaterThan(1_200)
      expect(sorted[1_900]).toBeLessThan(1_800)
      const mean = draws.reduce((a, b) => a + b, 0) / draws.length
      expect(mean).toBeGreaterThan(sorted[1_000]!)
    }))

  it.effect("a mix draws each part in proportion to its share", () =>
    Effect.gen(function*() {
      const rng = Random.make(3)
      const mix: Distribution.Distribution = { mix: [{ share: 19, size: 10 }, { share: 1, size: 20_000 }] }
      const draws = yield* Effect.forEach(Array.from({ length: 2_000 }), () => Distribution.draw(rng, mix))
      const giants = draws.filter((n) => n === 20_000).length
      expect(giants).toBeGreaterThan(60) // 100 expected, σ ≈ 10
      expect(giants).toBeLessThan(140)
      expect(draws.every((n) => n === 10 || n === 20_000)).toBe(true)
    }))

  it("the command line's form: N, MIN-MAX, lognormal:MEDIAN:SIGMA; anything else is refused", () => {
    expect(Distribution.parse("256")).toBe(256)
    expect(Distribution.parse("200-800")).toEqual({ uniform: [200, 800] })
    expect(Distribution.parse("lognormal:400:0.8")).toEqual({ lognormal: { median: 400, sigma: 0.8 } })
    for (const bad of ["0", "800-200", "lots", "-5", "lognormal:0:1", "1e3"]) {
      expect(Distribution.parse(bad)).toBe(undefined)
    }
  })

  it.effect("waves release their requests at their times, lane by lane", () =>
    Effect.gen(function*() {
      const shapes = yield* Workload.shapes({
        ...scenario({}),
        lanes: [
          {
            name: "a",
            lane: "interactive",
            concurrency: 1,
            promptTokens: 1,
            maxTokens: 1,
            waves: [
              { atSeconds: 0, requests: 2 },
              { atSeconds: 30, requests: 1 }
            ]
          },
          { name: "b", lane: "batch", concurrency: 4, promptTokens: 1, maxTokens: 1, requests: 2, startAtSeconds: 5 }
        ]
      })
      expect(shapes.map((shape) => [shape.lane, shape.laneKind, shape.releaseAtMillis])).toEqual([
        ["a", "interactive", 0],
        ["a", "interactive", 0],
        ["a", "interactive", 30_000],
        ["b", "batch", 5_000],
        ["b", "batch", 5_000]
      ])
    }))

  it("a prompt of N tokens is N × 3.5 characters, the simulated API's count", () => {
    const params = Workload.params({
      lane: "a",
      laneKind: "interactive",
      model: "claude-haiku-4-5",
      releaseAtMillis: 0,
      promptTokens: 100,
      maxTokens: 10
    })
    expect(params.messages[0]!.content).toHaveLength(350)
    expect(params).toMatchObject({ model: "claude-haiku-4-5", max_tokens: 10 })
  })
})

describe("scenario files", () => {
  const dir = new URL("../../../scenarios/", import.meta.url)
  const files = readdirSync(dir).filter((name) => name.endsWith(".json"))

  it("the examples are committed", () => expect(files.length).toBeGreaterThanOrEqual(5))

  for (const file of files) {
    it.effect(`${file} decodes`, () =>
      Effect.gen(function*() {
        const decoded = yield* Scenario.fromJson(readFileSync(new URL(file, dir), "utf8"), file)
        expect(Scenario.requestsOf(decoded)).toBeGreaterThan(0)
      }))
  }

  it.effect("a scenario that does not match the format is a ScenarioError naming the field", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Scenario.fromJson(
          JSON.stringify({
            name: "x",
            lanes: [{ name: "a", concurrency: 0, promptTokens: 1, maxTokens: 1, requests: 1 }]
          }),
          "bad.json"
        )
      )
      expect(error._tag).toBe("ScenarioError")
      expect(error.message).toMatch(/^scenario bad\.json: lanes\.0\.concurrency/)
      const both = yield* Effect.flip(Scenario.fromJson(
        JSON.stringify({
          name: "x",
          lanes: [{
            name: "a",
            concurrency: 1,
            promptTokens: 1,
            maxTokens: 1,
            requests: 1,
            waves: [{ atSeconds: 0, requests: 1 }]
          }]
        })
      ))
      expect(both.message).toContain("either requests or waves")
      expect((yield* Effect.flip(Scenario.fromJson("{not json"))).message).toContain("scenario (inline)")
    }))
})
