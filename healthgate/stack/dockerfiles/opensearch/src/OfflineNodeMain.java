import java.io.IOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;

/**
 * Starts one OpenSearch node whose bundled modules come from the classpath.
 *
 * The Maven artifacts carry the module classes but not the distribution's modules/
 * directory with plugin descriptors, so the standard bootstrap would start a node
 * without HTTP. Handing the plugin classes to the node directly is the supported
 * embedding path (the one the test framework uses).
 */
public final class OfflineNodeMain {

    /** Entry classes of the distribution's bundled modules that Maven Central publishes. */
    private static final List<String> MODULE_PLUGIN_CLASSES = List.of(
        "org.opensearch.transport.Netty4Plugin",
        "org.opensearch.analysis.common.CommonAnalysisPlugin",
        "org.opensearch.painless.PainlessPlugin",
        "org.opensearch.script.mustache.MustachePlugin",
        "org.opensearch.index.mapper.MapperExtrasPlugin",
        "org.opensearch.index.reindex.ReindexPlugin",
        "org.opensearch.ingest.common.IngestCommonPlugin",
        "org.opensearch.search.aggregations.matrix.MatrixAggregationPlugin",
        "org.opensearch.join.ParentJoinPlugin",
        "org.opensearch.percolator.PercolatorPlugin",
        "org.opensearch.index.rankeval.RankEvalPlugin",
        "org.opensearch.plugin.repository.url.URLRepositoryPlugin"
    );

    private OfflineNodeMain() {
    }

    /** Exposes the protected constructor that accepts plugin classes. */
    private static final class ClasspathModulesNode extends Node {
        ClasspathModulesNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
            super(environment, plugins, true);
        }
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> overrides = parseSettingOverrides(args);
        Path home = Paths.get(System.getProperty("opensearch.path.home", "/usr/share/opensearch"));
        Settings input = Settings.builder().put("path.home", home.toString()).build();
        Environment environment = InternalSettingsPreparer.prepareEnvironment(
            input, overrides, home.resolve("config"), OfflineNodeMain::defaultNodeName);

        LogConfigurator.registerErrorListener();
        LogConfigurator.setNodeName(Node.NODE_NAME_SETTING.get(environment.settings()));
        LogConfigurator.configure(environment);

        Node node = new ClasspathModulesNode(environment, loadModulePlugins());
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> closeQuietly(node, stopped), "node-shutdown"));
        node.start();
        // The node's own threads are daemons: without this wait the JVM would exit at once.
        stopped.await();
    }

    /** Like the official image: the node is named after the container's hostname. */
    private static String defaultNodeName() {
        String hostname = System.getenv("HOSTNAME");
        if (hostname != null && !hostname.isEmpty()) {
            return hostname;
        }
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            return "opensearch-node";
        }
    }

    private static Map<String, String> parseSettingOverrides(String[] args) {
        Map<String, String> overrides = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            String pair;
            if (arg.equals("-E") && i + 1 < args.length) {
                pair = args[++i];
            } else if (arg.startsWith("-E")) {
                pair = arg.substring(2);
            } else {
                throw new IllegalArgumentException("unsupported argument [" + arg + "]: expected -Ekey=value");
            }
            int eq = pair.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("setting [" + pair + "] must be of the form key=value");
            }
            overrides.put(pair.substring(0, eq), pair.substring(eq + 1));
        }
        return overrides;
    }

    private static Collection<Class<? extends Plugin>> loadModulePlugins() throws ClassNotFoundException {
        List<Class<? extends Plugin>> plugins = new ArrayList<>();
        for (String name : MODULE_PLUGIN_CLASSES) {
            plugins.add(Class.forName(name).asSubclass(Plugin.class));
        }
        return plugins;
    }

    private static void closeQuietly(Node node, CountDownLatch stopped) {
        try {
            node.close();
        } catch (IOException e) {
            System.err.println("error while stopping the node: " + e);
        } finally {
            stopped.countDown();
        }
    }
}
