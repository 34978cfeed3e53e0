package graphmem.neo4j;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.harness.Neo4j;
import org.neo4j.harness.Neo4jBuilder;
import org.neo4j.harness.Neo4jBuilders;
import org.neo4j.io.ByteUnit;

/**
 * Runs a Neo4j 5.x Community server in-process (via neo4j-harness) until SIGTERM.
 *
 * <p>Usage: {@code java -cp ... graphmem.neo4j.Launcher WORK_DIR BOLT_PORT HTTP_PORT}
 * (HTTP_PORT 0 disables the HTTP connector). Password for user {@code neo4j} comes from
 * env {@code GRAPHMEM_NEO4J_PASSWORD} (default {@code graphmem-local}).
 *
 * <p>The harness creates a fresh store in a random sub-folder of WORK_DIR and deletes it on
 * close, so data does NOT persist across restarts. Prints "GRAPHMEM_NEO4J_READY" once Bolt
 * is up and the password is set.
 */
public final class Launcher {
    public static void main(String[] args) throws Exception {
        Path workDir = Path.of(args[0]).toAbsolutePath();
        int boltPort = Integer.parseInt(args[1]);
        int httpPort = Integer.parseInt(args[2]);
        String password = System.getenv().getOrDefault("GRAPHMEM_NEO4J_PASSWORD", "graphmem-local");

        Neo4jBuilder builder = Neo4jBuilders.newInProcessBuilder(workDir)
                .withConfig(BoltConnector.enabled, true)
                .withConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", boltPort))
                .withConfig(GraphDatabaseSettings.auth_enabled, true)
                .withConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.mebiBytes(256))
                .withConfig(GraphDatabaseSettings.udc_enabled, false) // dbms.usage_report.enabled
                // Bolt waits 2 x 5 s on shutdown by default, after the databases have already stopped.
                .withConfig(BoltConnectorInternalSettings.connection_shutdown_wait_time, Duration.ofSeconds(1))
                .withConfig(BoltConnectorInternalSettings.thread_pool_shutdown_wait_time, Duration.ofSeconds(1));
        if (httpPort > 0) {
            builder = builder.withConfig(HttpConnector.listen_address, new SocketAddress("127.0.0.1", httpPort));
        } else {
            builder = builder.withDisabledServer();
        }

        try {
            Neo4j neo4j = builder.build();
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                System.out.println("GRAPHMEM_NEO4J_STOPPING");
                neo4j.close(); // clean shutdown; also deletes the store folder
                System.out.println("GRAPHMEM_NEO4J_STOPPED");
            }));
            // Embedded transactions bypass auth, so this sets the initial password of user neo4j.
            neo4j.databaseManagementService().database("system").executeTransactionally(
                    "ALTER USER neo4j SET PASSWORD $pw CHANGE NOT REQUIRED", Map.of("pw", password));
            System.out.println("GRAPHMEM_NEO4J_READY bolt=" + neo4j.boltURI()
                    + (httpPort > 0 ? " http=" + neo4j.httpURI() : ""));
        } catch (Throwable t) {
            t.printStackTrace();
            System.exit(1); // runs the shutdown hook, if the server got that far
        }
        new CountDownLatch(1).await(); // server threads keep running until SIGTERM
    }
}
