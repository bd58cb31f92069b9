# bindings/java/rules.mk - the Java (JNI) binding, included by the top Makefile.
#
#   make java           $(BUILD)/java/uvstreams.jar (package io.uvstreams, the
#                       SWIG classes in io.uvstreams.internal) and the JNI
#                       library $(BUILD)/java/libuvstreams_jni.so, which
#                       finds libuvstreams.so through its rpath, with no
#                       absolute path: $ORIGIN (installed next to it) or
#                       $ORIGIN/../lib ($(BUILD)/lib from $(BUILD)/java)
#   make test-java      the JUnit 4 suites (unit tests, examples), then the
#                       shared conformance scenarios through
#                       tests/conformance/run.sh
#   make install-java   the jar in $(PREFIX)/share/java (Debian's place for
#                       jars), the JNI library in $(LIBDIR) next to
#                       libuvstreams.so (honours DESTDIR); the installed jar
#                       loads it with no -Djava.library.path (package.mk)
#
#   java -Djava.library.path=build/java -cp build/java/uvstreams.jar:. App
#   java -cp /usr/local/share/java/uvstreams.jar:. App     (installed)
#
# javac runs twice in all: once for the jar, once for the tests, examples
# and conformance runner together. A missing JDK, SWIG or JUnit fails the
# target loudly (java-toolchain); nothing is skipped.

DEB_PARTS += java
DEB_PACKAGES_java := default-jdk junit4 swig

JAVA_SRC := bindings/java
JAVA_OUT := $(BUILD)/java
JAVA_PKG := io.uvstreams.internal
JAVA_GEN := $(JAVA_OUT)/gen/io/uvstreams/internal
JAVA_WRAP := $(JAVA_OUT)/uvstreams_c_wrap.c
JAVA_JNI := $(JAVA_OUT)/libuvstreams_jni.so
JAVA_JAR := $(JAVA_OUT)/uvstreams.jar
JAVA_CLASSES := $(JAVA_OUT)/classes
JAVA_TEST_CLASSES := $(JAVA_OUT)/test-classes
JAVA_SOURCES := $(shell find $(JAVA_SRC)/src -name '*.java' 2>/dev/null)
JAVA_TEST_SOURCES := $(wildcard $(JAVA_SRC)/test/io/uvstreams/*.java) \
  $(wildcard examples/java/*.java)
JAVAC ?= javac
JAR ?= jar
JAVA ?= java
JUNIT_CP := /usr/share/java/junit4.jar:/usr/share/java/hamcrest-core.jar
JAVAC_FLAGS := --release 17 -Xlint:all -Xlint:-serial -Werror -encoding UTF-8
# the JDK whose jni.h the wrapper compiles against
JAVA_HOME_DIR = $(shell dirname $$(dirname $$(readlink -f $$(command -v $(JAVAC)))))
# SWIG 4.1's generated C compiles cleanly with the project's warnings; the
# hand-written C of java.i is part of it.
JAVA_WRAP_CFLAGS = -std=c11 $(OPT) -Wall -Wextra -Werror -fPIC -pthread \
  -Iinclude -I$(JAVA_HOME_DIR)/include -I$(JAVA_HOME_DIR)/include/linux
JAVA_TEST_CP := $(JAVA_JAR):$(JAVA_TEST_CLASSES):$(JUNIT_CP)
JAVA_RUN := $(JAVA) -Djava.library.path=$(abspath $(JAVA_OUT)) -cp $(JAVA_TEST_CP)
JAVA_UNIT_TESTS := $(sort $(filter-out ConformanceTest,$(basename $(notdir \
  $(wildcard $(JAVA_SRC)/test/io/uvstreams/*Test.java)))))

.PHONY: java test-java install-java java-toolchain
java-toolchain:
	@for t in $(JAVAC) $(JAR) $(JAVA) swig; do \
	  command -v $$t >/dev/null 2>&1 || { echo "java: $$t is not installed (Debian: default-jdk, swig)" >&2; exit 1; }; \
	done
	@for j in $(subst :, ,$(JUNIT_CP)); do \
	  [ -f $$j ] || { echo "java: $$j is missing (Debian: junit4)" >&2; exit 1; }; \
	done

java: deps-java lib java-toolchain $(JAVA_JAR) $(JAVA_JNI)

$(JAVA_WRAP): bindings/uvstreams.i $(JAVA_SRC)/java.i include/uvstreams.h
	@rm -rf $(JAVA_GEN) && mkdir -p $(JAVA_GEN)
	@$(if $(Q),echo "  SWIG $< (java)")
	$(Q)swig -java -package $(JAVA_PKG) -outdir $(JAVA_GEN) -o $@ -Iinclude -Ibindings $<

$(JAVA_JNI): $(JAVA_WRAP) $(BUILD)/lib/libuvstreams.so
	@$(if $(Q),echo "  CC   $@")
	$(Q)$(CC) $(JAVA_WRAP_CFLAGS) -shared $< -o $@ -L$(BUILD)/lib \
	  -Wl,-rpath,'$$ORIGIN:$$ORIGIN/../lib' -luvstreams

$(JAVA_JAR): $(JAVA_WRAP) $(JAVA_SOURCES)
	@rm -rf $(JAVA_CLASSES) && mkdir -p $(JAVA_CLASSES)
	@$(if $(Q),echo "  JAVAC $(JAVA_CLASSES)")
	$(Q)$(JAVAC) $(JAVAC_FLAGS) -d $(JAVA_CLASSES) $(JAVA_SOURCES) $(JAVA_GEN)/*.java
	$(Q)$(JAR) --create --file $@ -C $(JAVA_CLASSES) .

$(JAVA_OUT)/tests.stamp: $(JAVA_JAR) $(JAVA_TEST_SOURCES)
	@rm -rf $(JAVA_TEST_CLASSES) && mkdir -p $(JAVA_TEST_CLASSES)
	@$(if $(Q),echo "  JAVAC $(JAVA_TEST_CLASSES)")
	$(Q)$(JAVAC) $(JAVAC_FLAGS) -cp $(JAVA_JAR):$(JUNIT_CP) -d $(JAVA_TEST_CLASSES) \
	  $(JAVA_TEST_SOURCES)
	@touch $@

test-java: java $(JAVA_OUT)/tests.stamp conformance-peer
	$(Q)$(JAVA_RUN) org.junit.runner.JUnitCore $(addprefix io.uvstreams.,$(JAVA_UNIT_TESTS))
	$(Q)UVS_CONFORMANCE_PEER=$(BUILD)/conformance/peer sh tests/conformance/run.sh java \
	  $(JAVA_RUN) org.junit.runner.JUnitCore io.uvstreams.ConformanceTest

# The installed jar finds the JNI library by itself (io.uvstreams.internal.
# Loader): it records LIBDIR and carries a copy of the library, relinked
# with a run path to LIBDIR; both are made again on every install.
install-java: java java-install-jar
	$(call check_install_dirs,$(DESTDIR)$(PREFIX)/share/java $(DESTDIR)$(LIBDIR))
	install -d $(DESTDIR)$(PREFIX)/share/java $(DESTDIR)$(LIBDIR)
	install -m 644 $(JAVA_INSTALL_JAR) $(DESTDIR)$(PREFIX)/share/java/uvstreams-$(VERSION).jar
	ln -sf uvstreams-$(VERSION).jar $(DESTDIR)$(PREFIX)/share/java/uvstreams.jar
	install -m 755 $(JAVA_INSTALL_JNI) $(DESTDIR)$(LIBDIR)/

BINDINGS += java
BINDING_TESTS += test-java
BINDING_INSTALLS += install-java
