# frozen_string_literal: true

# Runs every unit test file of bindings/ruby/test (the conformance runner
# has its own target: it needs the reference peer). No test file is a
# failure, never a silent pass.

files = Dir[File.join(__dir__, '*_test.rb')].reject { |f| f.end_with?('conformance_test.rb') }.sort
abort "#{__FILE__}: no test files in #{__dir__}" if files.empty?
files.each { |f| require f }
