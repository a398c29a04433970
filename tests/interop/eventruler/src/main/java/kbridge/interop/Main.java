package kbridge.interop;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import software.amazon.event.ruler.Machine;
import software.amazon.event.ruler.MachineComplexityEvaluator;
import software.amazon.event.ruler.JsonRuleCompiler;

/**
 * JSON-lines bridge to AWS event-ruler so that kbridge's pattern engine can be tested
 * against the reference implementation. One request per stdin line, one reply per stdout line.
 *
 * <pre>
 * {"op":"check","pattern":"..."}                      -> {"error": null | "reason"}  (JsonRuleCompiler, which Machine uses)
 * {"op":"match","rules":[["n","p"],...],"events":[..]} -> {"errors":{"n":"..."},"results":[["n",..],..]}
 * {"op":"complexity","pattern":"..."}                 -> {"complexity": n}
 * {"op":"tostring","number":"1e23"}                  -> {"text": "9.999999999999999E22"}
 * {"op":"bench","rules":[...],"events":[...],"seconds":1.5} -> {"events_per_sec":x,"matches":n}
 * </pre>
 *
 * Patterns and events travel as JSON strings so that event-ruler parses exactly the bytes
 * kbridge parsed. A failing request answers {"fatal": "..."} and the loop goes on.
 */
public final class Main {
  private static final ObjectMapper MAPPER = new ObjectMapper();

  private Main() {}

  public static void main(String[] args) throws Exception {
    BufferedReader in =
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
    String line;
    while ((line = in.readLine()) != null) {
      if (line.isBlank()) {
        continue;
      }
      ObjectNode reply;
      try {
        reply = handle(MAPPER.readTree(line));
      } catch (Throwable t) {
        reply = MAPPER.createObjectNode();
        reply.put("fatal", t.toString());
      }
      out.println(MAPPER.writeValueAsString(reply));
      out.flush();
    }
  }

  private static ObjectNode handle(JsonNode req) throws Exception {
    String op = req.get("op").asText();
    switch (op) {
      case "check":
        return check(req.get("pattern").asText());
      case "match":
        return match(req);
      case "bench":
        return bench(req);
      case "complexity":
        return complexity(req.get("pattern").asText());
      case "tostring":
        return toStringOf(req.get("number").asText());
      default:
        throw new IllegalArgumentException("unknown op " + op);
    }
  }

  private static ObjectNode check(String pattern) {
    ObjectNode reply = MAPPER.createObjectNode();
    String error;
    try {
      error = JsonRuleCompiler.check(pattern);
    } catch (Throwable t) {
      error = String.valueOf(t.getMessage());
    }
    if (error == null) {
      reply.putNull("error");
    } else {
      reply.put("error", error);
    }
    return reply;
  }

  /** event-ruler's own wildcard complexity measure of a one-rule machine (capped at 10000). */
  private static ObjectNode complexity(String pattern) throws Exception {
    ObjectNode reply = MAPPER.createObjectNode();
    Machine machine = new Machine();
    machine.addRule("r", pattern);
    reply.put("complexity", machine.evaluateComplexity(new MachineComplexityEvaluator(10000)));
    return reply;
  }

  /** Java's Double.toString of a JSON number: event-ruler compares numbers through it. */
  private static ObjectNode toStringOf(String number) {
    ObjectNode reply = MAPPER.createObjectNode();
    reply.put("text", Double.toString(Double.parseDouble(number)));
    return reply;
  }

  private static Machine build(JsonNode rules, ObjectNode errors) {
    Machine machine = new Machine();
    for (JsonNode pair : rules) {
      String name = pair.get(0).asText();
      try {
        machine.addRule(name, pair.get(1).asText());
      } catch (Throwable t) {
        errors.put(name, String.valueOf(t.getMessage()));
      }
    }
    return machine;
  }

  private static ObjectNode match(JsonNode req) throws Exception {
    ObjectNode reply = MAPPER.createObjectNode();
    ObjectNode errors = reply.putObject("errors");
    Machine machine = build(req.get("rules"), errors);
    ArrayNode results = reply.putArray("results");
    for (JsonNode event : req.get("events")) {
      ArrayNode names = results.addArray();
      try {
        List<String> matched = new ArrayList<>(machine.rulesForJSONEvent(event.asText()));
        Collections.sort(matched);
        matched.forEach(names::add);
      } catch (Throwable t) {
        names.add("!error: " + t.getMessage());
      }
    }
    return reply;
  }

  private static ObjectNode bench(JsonNode req) throws Exception {
    ObjectNode reply = MAPPER.createObjectNode();
    ObjectNode errors = reply.putObject("errors");
    Machine machine = build(req.get("rules"), errors);
    List<String> events = new ArrayList<>();
    req.get("events").forEach(e -> events.add(e.asText()));
    double seconds = req.get("seconds").asDouble();
    // Warm-up so that the JIT has compiled the matching path before we measure.
    long deadline = System.nanoTime() + (long) (Math.min(seconds, 1.0) * 1e9);
    int i = 0;
    while (System.nanoTime() < deadline) {
      machine.rulesForJSONEvent(events.get(i++ % events.size()));
    }
    long matches = 0;
    long count = 0;
    long start = System.nanoTime();
    long end = start + (long) (seconds * 1e9);
    long now = start;
    while (now < end) {
      for (int k = 0; k < 64; k++) {
        matches += machine.rulesForJSONEvent(events.get((int) (count++ % events.size()))).size();
      }
      now = System.nanoTime();
    }
    reply.put("events_per_sec", count / ((now - start) / 1e9));
    reply.put("matches", matches);
    return reply;
  }
}
