# bindings/java/package.mk - the installed jar, included by the top Makefile.
#
# make install-java installs $(JAVA_INSTALL_JAR): the build tree's jar plus
# io/uvstreams/internal/native.properties (libdir=$(LIBDIR)) and the JNI
# library itself under io/uvstreams/internal/native/<os.arch>/, that library
# relinked with the run path $ORIGIN:$(LIBDIR) (next to libuvstreams.so once
# installed, and from the temporary file the Loader writes it to). The
# Loader's order: -Duvstreams.jni, java.library.path, LIBDIR, the jar's copy.
# Both files are made on each install (LIBDIR is the install's).
#
#   make java-doc   javadoc of the public API (io.uvstreams) into
#                   $(BUILD)/java/doc; any doclint warning (a missing
#                   comment or tag too) fails

JAVA_INSTALL_DIR := $(JAVA_OUT)/install
JAVA_INSTALL_JAR := $(JAVA_INSTALL_DIR)/uvstreams.jar
JAVA_INSTALL_JNI := $(JAVA_INSTALL_DIR)/libuvstreams_jni.so
JAVA_DOC := $(JAVA_OUT)/doc

.PHONY: java-install-jar java-doc package-java
package-java: java

java-install-jar: java
	@rm -rf $(JAVA_INSTALL_DIR) && mkdir -p $(JAVA_INSTALL_DIR)/res/io/uvstreams/internal
	$(Q)$(CC) $(JAVA_WRAP_CFLAGS) -shared $(JAVA_WRAP) -o $(JAVA_INSTALL_JNI) -L$(BUILD)/lib \
	  -Wl,-rpath,'$$ORIGIN:$(LIBDIR)' -luvstreams
	$(Q)arch=$$($(JAVA) -XshowSettings:properties -version 2>&1 | sed -n 's/^ *os\.arch = //p'); \
	  test -n "$$arch" || { echo "java: cannot read os.arch from $(JAVA)" >&2; exit 1; }; \
	  mkdir -p $(JAVA_INSTALL_DIR)/res/io/uvstreams/internal/native/$$arch && \
	  cp $(JAVA_INSTALL_JNI) $(JAVA_INSTALL_DIR)/res/io/uvstreams/internal/native/$$arch/
	$(Q)printf 'libdir=%s\n' '$(LIBDIR)' > $(JAVA_INSTALL_DIR)/res/io/uvstreams/internal/native.properties
	$(Q)cp $(JAVA_JAR) $(JAVA_INSTALL_JAR)
	$(Q)$(JAR) --update --file $(JAVA_INSTALL_JAR) -C $(JAVA_INSTALL_DIR)/res .

java-doc: java-toolchain $(JAVA_WRAP) $(JAVA_SOURCES)
	@rm -rf $(JAVA_DOC) && mkdir -p $(JAVA_DOC)
	@$(if $(Q),echo "  JAVADOC $(JAVA_DOC)")
	$(Q)javadoc -quiet -Xdoclint:all -Werror -d $(JAVA_DOC) \
	  -sourcepath $(JAVA_SRC)/src:$(JAVA_OUT)/gen -subpackages io.uvstreams -exclude io.uvstreams.internal
