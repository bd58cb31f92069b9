package io.uvstreams;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A parser of tests/conformance/scenarios.txt (the format is
 * tests/conformance/FORMAT.md): scenarios with their client steps, typed
 * and validated. Peer steps are checked for shape and otherwise ignored
 * (the peer plays them). Any deviation from the format is a {@link
 * FormatError} naming the line, so that a broken file fails the run
 * instead of silently running fewer steps.
 */
final class Scenarios {
  private Scenarios() {}

  static final class FormatError extends RuntimeException {
    private static final long serialVersionUID = 1L;

    FormatError(int line, String message) {
      super("scenarios.txt line " + line + ": " + message);
    }
  }

  /** An expectation: "ok", "bytes" (value), or an error kind with attrs. */
  static final class Expect {
    final String kind;
    final byte[] value;
    final Map<String, String> attrs;

    Expect(String kind, byte[] value, Map<String, String> attrs) {
      this.kind = kind;
      this.value = value;
      this.attrs = attrs;
    }

    boolean isError() {
      return !kind.equals("ok") && !kind.equals("bytes");
    }

    @Override
    public String toString() {
      if (kind.equals("bytes")) {
        return Scenarios.show(value);
      }
      return isError() ? "!" + kind + " " + attrs : kind;
    }
  }

  /** A client step: name, positional tokens (still encoded), options. */
  static final class Step {
    final String name;
    final List<String> args;
    final Map<String, String> opts;
    final Expect expect;
    final int repeat;
    final int line;
    final String text;

    Step(String name, List<String> args, Map<String, String> opts, Expect expect,
         int repeat, int line, String text) {
      this.name = name;
      this.args = args;
      this.opts = opts;
      this.expect = expect;
      this.repeat = repeat;
      this.line = line;
      this.text = text;
    }

    byte[] bytesArg(int i) {
      return decode(args.get(i), line);
    }

    long intArg(int i) {
      return parseInt(args.get(i), line);
    }

    @Override
    public String toString() {
      return "line " + line + ": " + text;
    }
  }

  static final class Scenario {
    final String name;
    final List<Step> steps = new ArrayList<>();

    Scenario(String name) {
      this.name = name;
    }

    @Override
    public String toString() {
      return name;
    }
  }

  private static final Pattern NAME = Pattern.compile("[a-z0-9_]+");
  private static final Set<String> KINDS =
      Set.of("incomplete", "limit_overrun", "timeout", "refused", "reset", "invalid");
  /** Client steps: their number of positional arguments (-1: any). */
  private static final Map<String, Integer> CLIENT = new HashMap<>();
  /** Peer steps: whether they take an argument. */
  private static final Map<String, Boolean> PEER = new HashMap<>();

  static {
    for (String s : List.of("connect", "writelines", "readuntil_any")) {
      CLIENT.put(s, -1);
    }
    for (String s : List.of("connect_refused", "drain", "write_eof", "readline", "close")) {
      CLIENT.put(s, 0);
    }
    for (String s : List.of("write", "read", "readexactly", "readuntil")) {
      CLIENT.put(s, 1);
    }
    for (String s : List.of("send", "expect", "sleep")) {
      PEER.put(s, true);
    }
    for (String s : List.of("expect_eof", "shutdown", "close", "reset")) {
      PEER.put(s, false);
    }
  }

  /** The scenarios of the file, in order. */
  static List<Scenario> load(Path file) throws IOException {
    return parse(Files.readAllLines(file, StandardCharsets.UTF_8));
  }

  static List<Scenario> parse(List<String> lines) {
    List<Scenario> out = new ArrayList<>();
    Set<String> names = new HashSet<>();
    Scenario current = null;
    for (int i = 0; i < lines.size(); i++) {
      int no = i + 1;
      String line = lines.get(i).strip();
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      String[] tokens = line.split(" +");
      if (tokens[0].equals("scenario")) {
        if (tokens.length != 2 || !NAME.matcher(tokens[1]).matches() || !names.add(tokens[1])) {
          throw new FormatError(no, "bad or duplicate scenario line");
        }
        current = new Scenario(tokens[1]);
        out.add(current);
      } else if (current == null) {
        throw new FormatError(no, "a step outside a scenario");
      } else if (tokens[0].equals("peer")) {
        checkPeer(tokens, no);
      } else {
        current.steps.add(step(tokens, no, line));
      }
    }
    for (Scenario sc : out) {
      if (sc.steps.isEmpty() || !sc.steps.get(0).name.startsWith("connect")) {
        throw new FormatError(0, "scenario " + sc.name + " does not start with a connect");
      }
    }
    return out;
  }

  private static void checkPeer(String[] tokens, int no) {
    Boolean takesArg = tokens.length > 1 ? PEER.get(tokens[1]) : null;
    if (takesArg == null || tokens.length != (takesArg ? 3 : 2)) {
      throw new FormatError(no, "bad peer step");
    }
    if (tokens[1].equals("sleep")) {
      parseInt(tokens[2], no);
    } else if (takesArg) {
      decode(tokens[2], no);
    }
  }

  private static Step step(String[] all, int no, String text) {
    List<String> tokens = List.of(all);
    Expect expect = new Expect("ok", null, Map.of());
    int arrow = tokens.indexOf("=>");
    if (arrow >= 0) {
      expect = expectation(tokens.subList(arrow + 1, tokens.size()), no);
      tokens = tokens.subList(0, arrow);
    }
    int repeat = 1;
    if (!tokens.isEmpty() && tokens.get(0).equals("repeat")) {
      if (tokens.size() < 3) {
        throw new FormatError(no, "repeat N <step>");
      }
      repeat = (int) parseInt(tokens.get(1), no);
      tokens = tokens.subList(2, tokens.size());
    }
    if (tokens.isEmpty() || !CLIENT.containsKey(tokens.get(0))) {
      throw new FormatError(no, "unknown step");
    }
    String name = tokens.get(0);
    List<String> args = new ArrayList<>();
    Map<String, String> opts = new LinkedHashMap<>();
    for (String tok : tokens.subList(1, tokens.size())) {
      int eq = tok.indexOf('=');
      if (eq >= 0) {
        opts.put(tok.substring(0, eq), tok.substring(eq + 1));
      } else {
        args.add(tok);
      }
    }
    int count = CLIENT.get(name);
    if (count >= 0 && args.size() != count) {
      throw new FormatError(no, name + " takes " + count + " argument(s)");
    }
    if (name.equals("connect") && !args.stream().allMatch("unix"::equals)) {
      throw new FormatError(no, "bad connect argument");
    }
    Step step = new Step(name, args, opts, expect, repeat, no, text);
    validate(step);
    return step;
  }

  /** Decodes the typed arguments once, so that a bad token fails here. */
  private static void validate(Step step) {
    for (int i = 0; i < step.args.size(); i++) {
      if (step.name.equals("read") || step.name.equals("readexactly")) {
        step.intArg(i);
      } else if (!step.name.equals("connect")) {
        step.bytesArg(i);
      }
    }
    for (String key : List.of("timeout", "limit", "write_high", "write_low")) {
      if (step.opts.containsKey(key)) {
        parseInt(step.opts.get(key), step.line);
      }
    }
  }

  private static Expect expectation(List<String> tokens, int no) {
    if (tokens.isEmpty()) {
      throw new FormatError(no, "nothing after =>");
    }
    String head = tokens.get(0);
    if (head.equals("ok") && tokens.size() == 1) {
      return new Expect("ok", null, Map.of());
    }
    if (head.startsWith("!")) {
      String kind = head.substring(1);
      if (!KINDS.contains(kind)) {
        throw new FormatError(no, "unknown error kind " + kind);
      }
      Map<String, String> attrs = new LinkedHashMap<>();
      for (String tok : tokens.subList(1, tokens.size())) {
        int eq = tok.indexOf('=');
        String key = eq < 0 ? "" : tok.substring(0, eq);
        if (!Set.of("partial", "expected", "consumed").contains(key)) {
          throw new FormatError(no, "bad attribute " + tok);
        }
        attrs.put(key, tok.substring(eq + 1));
      }
      return new Expect(kind, null, attrs);
    }
    if (tokens.size() != 1) {
      throw new FormatError(no, "one bytes token expected after =>");
    }
    return new Expect("bytes", decode(head, no), Map.of());
  }

  /** The bytes a bytes token stands for ("-", "*N:unit", %HH escapes). */
  static byte[] decode(String token, int no) {
    if (token.equals("-")) {
      return new byte[0];
    }
    if (token.startsWith("*")) {
      int colon = token.indexOf(':');
      if (colon < 0) {
        throw new FormatError(no, "bad repeated bytes token " + token);
      }
      long count = parseInt(token.substring(1, colon), no);
      byte[] unit = percent(token.substring(colon + 1), no);
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      for (long i = 0; i < count; i++) {
        out.writeBytes(unit);
      }
      return out.toByteArray();
    }
    return percent(token, no);
  }

  private static byte[] percent(String text, int no) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] raw = text.getBytes(StandardCharsets.UTF_8);
    for (int i = 0; i < raw.length; i++) {
      if (raw[i] != '%') {
        out.write(raw[i]);
        continue;
      }
      if (i + 2 >= raw.length) {
        throw new FormatError(no, "bad escape in " + text);
      }
      int hi = Character.digit(raw[i + 1], 16);
      int lo = Character.digit(raw[i + 2], 16);
      if (hi < 0 || lo < 0) {
        throw new FormatError(no, "bad escape in " + text);
      }
      out.write(hi * 16 + lo);
      i += 2;
    }
    return out.toByteArray();
  }

  static long parseInt(String token, int no) {
    try {
      return Long.parseLong(token);
    } catch (NumberFormatException e) {
      throw new FormatError(no, "not an int: " + token);
    }
  }

  /** A short printable form of bytes for messages. */
  static String show(byte[] data) {
    int n = Math.min(data.length, 60);
    StringBuilder sb = new StringBuilder("\"");
    for (int i = 0; i < n; i++) {
      int c = data[i] & 0xff;
      sb.append(c >= 0x20 && c < 0x7f && c != '"' ? String.valueOf((char) c)
                                                  : String.format("%%%02X", c));
    }
    sb.append('"');
    return data.length > n ? sb + "... (" + data.length + " bytes)" : sb.toString();
  }
}
