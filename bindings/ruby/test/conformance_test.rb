# frozen_string_literal: true

# The shared conformance scenarios (tests/conformance/scenarios.txt, format
# in tests/conformance/FORMAT.md) against the Ruby binding's blocking API,
# one minitest test per scenario, named after it, run in file order.
#
# Design: ScenarioFile parses the file into scenarios of client steps (the
# `peer` steps are the reference peer's business: run.sh starts it and sets
# the UVS_CONFORMANCE_* variables); ScenarioRun performs the steps on one
# UVStreams::Stream and checks each expectation. Only meaningful under
# tests/conformance/run.sh (make test-ruby); without its variables every
# test fails. Steps without timeout= get a safety timeout of 30 s, and a
# safety timeout that fires fails the scenario.

require 'minitest/autorun'
require 'uvstreams'

# The scenario file: scenarios of client steps.
module ScenarioFile
  Scenario = Struct.new(:name, :steps)
  # op: the step's name; args: its positional tokens; options: key=value;
  # expect: [:ok], [:bytes, String] or [:error, kind, {attr => value}];
  # count: how many times (repeat).
  Step = Struct.new(:op, :args, :options, :expect, :count, :line)

  module_function

  def load(path)
    scenarios = []
    File.foreach(path).with_index(1) do |raw, number|
      line = raw.strip
      next if line.empty? || line.start_with?('#')

      if line.start_with?('scenario ')
        scenarios << Scenario.new(line.split[1], [])
      elsif !line.start_with?('peer ')
        raise "#{path}:#{number}: a step outside any scenario" if scenarios.empty?

        scenarios.last.steps << parse_step(line, number)
      end
    end
    scenarios
  end

  def parse_step(line, number)
    call, expectation = line.split(' => ', 2)
    tokens = call.split
    count = 1
    count = Integer(tokens.shift(2)[1]) if tokens.first == 'repeat'
    op = tokens.shift
    options, args = tokens.partition { |t| t.match?(/\A[a-z_]+=/) }
    options = options.to_h { |t| t.split('=', 2) }.transform_keys(&:to_sym)
    Step.new(op, args, options, parse_expectation(expectation), count, number)
  end

  def parse_expectation(text)
    return [:ok] if text.nil? || text.strip == 'ok'

    tokens = text.split
    return [:bytes, bytes(tokens.first)] unless tokens.first.start_with?('!')

    [:error, tokens.first.delete_prefix('!'), tokens.drop(1).to_h { |t| t.split('=', 2) }]
  end

  # A bytes token: percent-encoded, "-" empty, "*N:unit" repeated.
  def bytes(token)
    return ''.b if token == '-'

    if (m = token.match(/\A\*(\d+):(.*)\z/m))
      return decode(m[2]) * Integer(m[1])
    end

    decode(token)
  end

  def decode(text)
    text.b.gsub(/%([0-9A-Fa-f]{2})/) { Regexp.last_match(1).hex.chr.b }
  end
end

# Performs one scenario's client steps on one stream.
class ScenarioRun
  SAFETY_TIMEOUT = 30.0
  ERROR_CLASSES = {
    'incomplete' => [UVStreams::IncompleteReadError],
    'limit_overrun' => [UVStreams::LimitOverrunError],
    'timeout' => [UVStreams::TimeoutError],
    'refused' => [UVStreams::ConnectionRefusedError],
    'reset' => [UVStreams::ConnectionResetError, UVStreams::BrokenPipeError],
    'invalid' => [UVStreams::InvalidArgumentError]
  }.freeze

  def initialize(test, scenario)
    @test = test
    @scenario = scenario
    @stream = nil
  end

  def run
    @scenario.steps.each do |step|
      step.count.times { |i| check(step, i) { perform(step) } }
    end
  ensure
    finish
  end

  private

  def env(name)
    ENV.fetch(name) { raise "#{name} is not set: run under tests/conformance/run.sh" }
  end

  def where(step, index)
    "#{@scenario.name}, line #{step.line} (#{step.op}#{step.count > 1 ? " ##{index + 1}" : ''})"
  end

  # Runs the step and compares its outcome with the expectation.
  def check(step, index)
    value = yield
    outcome = [:ok]
  rescue UVStreams::Error => e
    outcome = [:error, e]
  ensure
    compare(step, outcome, value, where(step, index)) if outcome
  end

  def compare(step, outcome, value, where)
    kind, expected, attrs = step.expect
    if outcome.first == :error
      compare_error(step, outcome[1], kind, expected, attrs, where)
    else
      @test.flunk("#{where}: succeeded, expected !#{expected}") if kind == :error
      compare_bytes(expected, value, where) if kind == :bytes
    end
  end

  def compare_error(step, error, kind, expected, attrs, where)
    if kind != :error
      @test.flunk("#{where}: raised #{error.class}: #{error.message}" +
                  (step.options[:timeout] ? '' : ' (no timeout= in the step: the safety timeout?)'))
    end
    classes = ERROR_CLASSES.fetch(expected) { @test.flunk("#{where}: unknown error kind #{expected}") }
    @test.assert(classes.any? { |c| error.is_a?(c) },
                 "#{where}: expected !#{expected}, got #{error.class}: #{error.message}")
    attrs.each { |name, text| compare_attr(step, error, name, text, where) }
  end

  def compare_attr(step, error, name, text, where)
    case name
    when 'partial' then compare_bytes(ScenarioFile.bytes(text), error.partial, "#{where}: partial")
    when 'expected'
      expected = text == 'none' ? nil : Integer(text)
      @test.assert(expected == error.expected, "#{where}: expected #{expected.inspect}, got #{error.expected.inspect}")
    when 'consumed'
      return if step.op == 'readline' # asyncio's readline error has no consumed

      @test.assert_equal(Integer(text), error.consumed, "#{where}: consumed")
    else @test.flunk("#{where}: unknown attribute #{name}")
    end
  end

  # Equal bytes, or a short message (the values can be megabytes).
  def compare_bytes(expected, actual, where)
    return if expected == actual

    at = (0...[expected.bytesize, actual.to_s.bytesize].min).find { |i| expected.getbyte(i) != actual.getbyte(i) }
    @test.flunk("#{where}: expected #{expected.bytesize} bytes #{expected[0, 60].inspect}, " \
                "got #{actual.to_s.bytesize} bytes #{actual.to_s[0, 60].inspect} (first difference at #{at.inspect})")
  end

  def timeout(step)
    ms = step.options[:timeout]
    ms ? Integer(ms) / 1000.0 : SAFETY_TIMEOUT
  end

  def bytes_args(step)
    step.args.map { |t| ScenarioFile.bytes(t) }
  end

  def perform(step)
    case step.op
    when 'connect' then connect(step)
    when 'connect_refused'
      UVStreams.connect(env('UVS_CONFORMANCE_HOST'), Integer(env('UVS_CONFORMANCE_CLOSED_PORT')),
                        timeout: SAFETY_TIMEOUT)
    when 'close' then close_stream
    else stream_step(step)
    end
  end

  def stream_step(step)
    s = @stream or @test.flunk("#{@scenario.name}: #{step.op} before connect")
    t = timeout(step)
    case step.op
    when 'write' then s.write(ScenarioFile.bytes(step.args.first))
    when 'writelines' then s.writelines(bytes_args(step))
    when 'drain' then s.drain(timeout: t)
    when 'write_eof' then s.write_eof
    when 'read' then asyncio_read(s, Integer(step.args.first), t)
    when 'readline' then s.readline(timeout: t)
    when 'readexactly' then s.readexactly(Integer(step.args.first), timeout: t)
    when 'readuntil' then s.readuntil(ScenarioFile.bytes(step.args.first), timeout: t)
    when 'readuntil_any' then s.readuntil(bytes_args(step), timeout: t)
    else @test.flunk("#{@scenario.name}: unknown step #{step.op}")
    end
  end

  # asyncio's read(n): up to n bytes, "" at EOF; n = -1 reads to EOF.
  def asyncio_read(stream, n, timeout)
    return stream.read(timeout: timeout) if n.negative?

    stream.readpartial(n, timeout: timeout)
  rescue EOFError
    ''.b
  end

  def connect(step)
    options = step.options.slice(:limit, :write_high, :write_low).transform_values { |v| Integer(v) }
    @stream = if step.args.include?('unix')
                UVStreams.connect_unix(env('UVS_CONFORMANCE_UNIX'), timeout: SAFETY_TIMEOUT, **options)
              else
                UVStreams.connect(env('UVS_CONFORMANCE_HOST'), Integer(env('UVS_CONFORMANCE_PORT')),
                                  timeout: SAFETY_TIMEOUT, **options)
              end
    @stream.write("SCENARIO #{@scenario.name}\n")
    @stream.drain(timeout: SAFETY_TIMEOUT)
  end

  def close_stream
    @stream.close
    @stream.wait_closed(timeout: SAFETY_TIMEOUT)
  end

  # The stream is closed at the end of every scenario, whatever happened.
  def finish
    return unless @stream

    @stream.close
    begin
      @stream.wait_closed(timeout: 5)
    rescue UVStreams::Error
      nil # lost or reset: closed all the same
    end
  end
end

# One test per scenario, in the order of the file.
class ConformanceTest < Minitest::Test
  PATH = ENV.fetch('UVS_CONFORMANCE_SCENARIOS') do
    File.expand_path('../../../tests/conformance/scenarios.txt', __dir__)
  end
  SCENARIOS = ScenarioFile.load(PATH).select do |s|
    ENV['UVS_CONFORMANCE_ONLY'].to_s.empty? || s.name == ENV['UVS_CONFORMANCE_ONLY']
  end

  def self.runnable_methods
    SCENARIOS.empty? ? ['test_some_scenario_is_found'] : SCENARIOS.map { |s| "test_#{s.name}" }
  end

  def test_some_scenario_is_found
    flunk("no scenario in #{PATH}#{" named #{ENV['UVS_CONFORMANCE_ONLY']}" if ENV['UVS_CONFORMANCE_ONLY']}")
  end

  SCENARIOS.each do |scenario|
    define_method("test_#{scenario.name}") { ScenarioRun.new(self, scenario).run }
  end
end
